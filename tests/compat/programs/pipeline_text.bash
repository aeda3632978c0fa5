# A log summary with awk, sort, uniq, sed, cut, tr and wc.
cat > access.log <<'LOG'
10.0.0.1 GET /index.html 200 512
10.0.0.2 GET /about.html 404 0
10.0.0.1 POST /api/login 200 128
10.0.0.3 GET /index.html 200 512
10.0.0.2 GET /index.html 304 0
10.0.0.1 GET /api/items 500 64
LOG
awk '{hits[$1]++; bytes[$1]+=$5} END {for (ip in hits) printf "%s %d %d\n", ip, hits[ip], bytes[ip]}' access.log | sort
cut -d' ' -f3 access.log | sort | uniq -c | sort -rn -k1,1 -k2
awk '$4 >= 400 {print $4, $3}' access.log
sed -n 's#^\([0-9.]*\) GET \(/[a-z]*\)\.html.*#\2 from \1#p' access.log
tr ' ' '\n' < access.log | grep -c '^/'
wc -l < access.log
sort -k5,5n -k1,1 access.log | head -2
paste -d, <(cut -d' ' -f1 access.log) <(cut -d' ' -f4 access.log) | sort -u | tr '\n' ';'; echo
printf '%s\n' b a c | sort -r | xargs echo
