# Plain POSIX sh features (dash), as scripts and Makefiles use them.
set -eu
count=0
for word in alpha beta gamma; do
	count=$((count + 1))
	case $word in
	a*) echo "$count starts with a: $word" ;;
	*) echo "$count other: $word" ;;
	esac
done
greet() { printf 'hello %s\n' "${1:-nobody}"; return 3; }
greet world || echo "rc=$?"
greet || true
x=${UNSET_VAR:-default}; y=${x%ult}; z=${x#de}
echo "$x $y $z ${#x}"
i=0; while [ "$i" -lt 3 ]; do i=$((i + 1)); done; echo "i=$i"
exec 3>out.txt; echo via-fd3 >&3; exec 3>&-; cat out.txt
( cd /; pwd ); echo "subshell kept $(basename "$PWD")" >/dev/null
test -d . && [ -n "$x" ] && echo tests-ok
IFS=: read -r a b c <<EOT
one:two:three
EOT
echo "$b"
printf '%s\n' "$@" | wc -l
sh -c 'exit 7' || echo "child rc=$?"
echo "$(echo nested $(echo deep))"
