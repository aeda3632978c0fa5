set -euo pipefail
fruits=(apple banana "cherry pie")
fruits+=(date)
echo "${#fruits[@]} ${fruits[2]} ${fruits[@]:1:2}"
declare -A color=([apple]=red [banana]=yellow)
for k in $(printf '%s\n' "${!color[@]}" | sort); do echo "$k=${color[$k]}"; done
s="Hello, World"
echo "${s,,} ${s^^} ${s/World/There} ${s:7} ${#s}"
if [[ $s == Hello* && ${#s} -gt 5 ]]; then echo glob-match; fi
if [[ "abc123" =~ ^([a-z]+)([0-9]+)$ ]]; then echo "${BASH_REMATCH[1]} ${BASH_REMATCH[2]}"; fi
while read -r line; do echo "got: $line"; done < <(printf 'x\ny\n')
diff <(printf '1\n2\n3\n') <(printf '1\n3\n') || echo "diff rc=$?"
mapfile -t lines < <(seq 3)
echo "mapfile ${lines[*]}"
f() { local -n ref=$1; ref=changed; }
v=orig; f v; echo "$v"
echo $(( 2 ** 10 )) $(( 17 % 5 )) $(( (3 + 4) * 2 ))
printf '%05.1f|%-4s|%x\n' 3.14159 ab 255
echo {a..c}{1..2}
shopt -s extglob; x=aaa-bbb; echo "${x//+(a)/A}"
trap 'echo trapped' EXIT
case "$s" in H*) echo case-ok ;; esac
