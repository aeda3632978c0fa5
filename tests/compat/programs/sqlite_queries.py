import sqlite3

db = sqlite3.connect(":memory:")
db.execute("create table emp (id integer primary key, name text, dept text, salary real)")
rows = [("ann", "eng", 120), ("bob", "eng", 100), ("cat", "ops", 90), ("dan", "ops", 95),
        ("eve", "sales", 70)]
db.executemany("insert into emp (name, dept, salary) values (?, ?, ?)", rows)
for r in db.execute("select dept, count(*), avg(salary), max(salary) from emp group by dept "
                    "order by dept"):
    print(r)
for r in db.execute("select name, salary, rank() over (partition by dept order by salary desc) "
                    "from emp order by name"):
    print(r)
db.execute("create table t(x)")
with db:
    db.executemany("insert into t values (?)", [(i,) for i in range(1000)])
print(db.execute("select sum(x), count(*) from t where x % 3 = 0").fetchone())
print(db.execute("select json_object('a', 1, 'b', json_array(2, 3))").fetchone()[0])
print(sqlite3.sqlite_version_info >= (3, 30))
