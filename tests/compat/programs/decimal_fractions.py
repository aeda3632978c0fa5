from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal, getcontext, localcontext
from fractions import Fraction
import math

print(Decimal("0.1") + Decimal("0.2"), 0.1 + 0.2)
print(Decimal("2.675").quantize(Decimal("0.01"), rounding=ROUND_HALF_UP),
      Decimal("2.665").quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN))
with localcontext() as ctx:
    ctx.prec = 50
    print(Decimal(2).sqrt())
print(getcontext().prec, Decimal(1) / Decimal(7))
print(Fraction(3, 4) + Fraction(5, 6), Fraction("0.125"), Fraction(1.1).limit_denominator(100))
print(sum(Fraction(1, n) for n in range(1, 11)))
print(math.comb(50, 7), math.isqrt(10 ** 20 + 1), math.gcd(462, 1071), round(math.pi, 12))
print(2 ** 200 % 1000003, (10 ** 30 + 7).bit_length())
