import multiprocessing as mp


def square(x):
    return x * x


def worker(q, n):
    q.put(sum(range(n)))


if __name__ == "__main__":
    with mp.Pool(2) as pool:
        print(pool.map(square, range(10)))
        print(sorted(pool.imap_unordered(square, range(5))))
        print(pool.starmap(pow, [(2, 5), (3, 3)]))
    q = mp.Queue()
    ps = [mp.Process(target=worker, args=(q, n)) for n in (10, 100)]
    for p in ps:
        p.start()
    for p in ps:
        p.join()
    print(sorted(q.get() for _ in ps), [p.exitcode for p in ps])
    ctx = mp.get_context("forkserver")
    with ctx.Pool(1) as pool:
        print(pool.apply(pow, (12, 2)))
    v = mp.Value("i", 0)
    print(v.value, mp.cpu_count() >= 1)
