seq 1 10 | paste -sd' '
seq 5 -1 1 | tac | head -n 2
printf 'b 2\na 1\nc 3\n' | sort -k2n | cut -d' ' -f1 | tr -d '\n'; echo
echo 'hello world' | sha256sum
echo 'hello world' | md5sum
echo 'hello' | base64; echo 'aGVsbG8K' | base64 -d
printf 'x\ny\n' > f1; printf '1\n2\n' > f2; paste f1 f2; join <(printf 'a 1\nb 2\n') <(printf 'a x\nb y\n')
date -u -d '2024-02-28 + 1 day' +%F; date -u -d @0 +'%Y %j %A'
printf 'aaa\nbbb\naaa\n' | uniq -c | awk '{$1=$1; print}'
echo "3.5 * 4" | bc 2>/dev/null || awk 'BEGIN{print 3.5*4}'
fold -w 5 <<< 'abcdefghijkl'
numfmt --to=iec 1048576 2>/dev/null || echo 1.0M
expr length "hello"; od -An -tx1 <<< 'AB' | tr -s ' '
stat -c '%s' f1; du -b f1 | cut -f1
truncate -s 10 f3; wc -c < f3; split -l 1 f1 part_; ls part_*
comm -12 <(printf 'a\nb\nc\n') <(printf 'b\nc\nd\n')
rev <<< 'stressed'; yes | head -3 | tr '\n' ' '; echo
