import queue
import threading

q = queue.Queue()
results = []
lock = threading.Lock()


def consumer():
    while True:
        item = q.get()
        if item is None:
            break
        with lock:
            results.append(item * 2)
        q.task_done()


threads = [threading.Thread(target=consumer) for _ in range(4)]
for t in threads:
    t.start()
for i in range(100):
    q.put(i)
q.join()
for _ in threads:
    q.put(None)
for t in threads:
    t.join()
print(len(results), sum(results))
ev = threading.Event()
timer = threading.Timer(0.05, ev.set)
timer.start()
print(ev.wait(5))
timer.join()
local = threading.local()
local.x = 1
print(threading.active_count(), local.x)
