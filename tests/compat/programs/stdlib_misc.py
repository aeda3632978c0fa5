import asyncio
import dataclasses
import enum
import functools
import heapq
import itertools
import statistics
import textwrap
import unicodedata


@dataclasses.dataclass(order=True)
class Item:
    priority: int
    name: str = dataclasses.field(compare=False)


class Color(enum.Enum):
    RED = 1
    GREEN = 2


@functools.lru_cache(maxsize=None)
def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


async def job(n):
    await asyncio.sleep(0.01 * (3 - n))
    return n * 10


async def main():
    return await asyncio.gather(*(job(n) for n in range(3)))


print(sorted([Item(3, "c"), Item(1, "a"), Item(2, "b")])[0], Color(2), fib(90))
print(statistics.mean([1, 2, 3, 4]), statistics.median([5, 1, 3]), statistics.stdev([1, 2, 3, 4]))
print(list(itertools.islice(itertools.accumulate(itertools.count(1)), 6)),
      list(itertools.combinations("abc", 2)), list(itertools.pairwise([1, 2, 3])))
print(heapq.nsmallest(3, [5, 1, 8, 3, 9, 2]))
print(textwrap.fill("lorem ipsum dolor sit amet " * 4, width=30))
print(unicodedata.normalize("NFD", "é") == "e\u0301", unicodedata.name("€"), "straße".upper())
print(asyncio.run(main()))
print(f"{1234567.891:,.2f} {0.25:.1%} {255:#x} {'x':^5}|")
