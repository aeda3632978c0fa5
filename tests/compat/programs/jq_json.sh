cat > people.json <<'JSON'
[{"name":"ana","age":31,"tags":["admin","dev"],"team":"red"},
 {"name":"ben","age":25,"tags":["dev"],"team":"blue"},
 {"name":"cy","age":42,"tags":[],"team":"red"}]
JSON
jq -c '.[] | {name, n: (.tags | length)}' people.json
jq -r 'map(select(.age > 30)) | .[].name' people.json
jq 'group_by(.team) | map({team: .[0].team, ages: map(.age), mean: (map(.age) | add / length)})' people.json
jq -r '.[] | [.name, .age, (.tags | join("|"))] | @csv' people.json
jq -n '[range(5)] | map(. * .) | {sum: add, max: max}'
echo '{"a":{"b":{"c":1}}}' | jq -c 'paths(scalars) as $p | {path: $p, v: getpath($p)}'
jq -s 'length' people.json
echo '"2024-01-02T03:04:05Z"' | jq 'fromdateiso8601'
jq --arg t red '[.[] | select(.team == $t) | .name] | sort' people.json
