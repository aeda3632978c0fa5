import concurrent.futures as cf
import math


def is_prime(n):
    if n < 2:
        return False
    return all(n % k for k in range(2, math.isqrt(n) + 1))


if __name__ == "__main__":
    nums = [1000003, 1000033, 999983 * 1000003, 2147483647, 17, 18]
    with cf.ProcessPoolExecutor(max_workers=2) as ex:
        print(list(zip(nums, ex.map(is_prime, nums))))
    with cf.ThreadPoolExecutor(max_workers=4) as ex:
        futs = {ex.submit(pow, 2, n): n for n in range(8)}
        print(sorted(f.result() for f in cf.as_completed(futs)))
        f = ex.submit(lambda: 1 / 0)
        print(type(f.exception()).__name__)
