import re

log = """2024-03-01 12:00:01 ERROR disk full on /dev/sda1
2024-03-01 12:00:05 INFO retry 3 of 5
2024-03-02 08:15:00 WARN latency 250ms host=web-2
2024-03-02 09:00:00 ERROR timeout host=db-1"""
pat = re.compile(r"^(?P<date>\d{4}-\d\d-\d\d) (?P<time>[\d:]+) (?P<level>[A-Z]+) (?P<msg>.*)$",
                 re.M)
for m in pat.finditer(log):
    print(m.group("level"), m["date"], m.groupdict()["msg"][:12])
print(re.findall(r"host=([\w-]+)", log))
print(re.sub(r"(\d+)ms", lambda m: str(int(m[1]) / 1000) + "s", log.splitlines()[2]))
print(re.split(r"[,;]\s*", "a, b;c ;d"))
print(bool(re.fullmatch(r"[\w.+-]+@[\w-]+\.[\w.]+", "x.y+z@example.co.uk")))
print(re.sub(r"(?<=\d)(?=(\d{3})+$)", ",", "1234567"))
print(re.findall(r"\b\w+\b", "héllo wörld ünïcode", re.UNICODE))
