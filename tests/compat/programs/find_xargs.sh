mkdir -p tree/a/b tree/c
for f in tree/a/one.txt tree/a/b/two.txt tree/c/three.md tree/four.txt; do
	printf 'content of %s\n' "$f" > "$f"
done
find tree -type f -name '*.txt' | sort
find tree -type d | sort | tr '\n' ' '; echo
find tree -name '*.txt' -print0 | sort -z | xargs -0 cat
find tree -type f | sort | xargs -n 2 echo pair:
find tree -type f -exec wc -c {} + | sort -k2 | awk '{print $1}'
find tree -newer tree/a/one.txt -type f | wc -l >/dev/null && echo newer-ok
ls tree | sed 's/^/- /'
printf '3\n1\n2\n' | xargs -I{} sh -c 'echo item {}' | sort
basename tree/a/b/two.txt .txt; dirname tree/a/b/two.txt
