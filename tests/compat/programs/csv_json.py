import csv
import io
import json
from collections import Counter, defaultdict

text = """name,team,score
ana,red,10
ben,blue,7
cid,red,3
dee,blue,12
eli,green,5
"""
rows = list(csv.DictReader(io.StringIO(text)))
by_team = defaultdict(list)
for r in rows:
    by_team[r["team"]].append(int(r["score"]))
print(json.dumps({k: sum(v) for k, v in sorted(by_team.items())}, indent=2))
out = io.StringIO()
w = csv.writer(out, quoting=csv.QUOTE_NONNUMERIC)
w.writerow(["team", "best"])
for team, scores in sorted(by_team.items()):
    w.writerow([team, max(scores)])
print(out.getvalue(), end="")
doc = json.loads('{"a": [1, 2, {"b": null}], "c": "\\u00e9", "d": 1.5e3}')
print(doc, json.dumps(doc, sort_keys=True, ensure_ascii=False))
print(Counter(r["team"] for r in rows).most_common(2))
