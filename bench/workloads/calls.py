"""Call-heavy workload: many small Python function and method calls.

Recursive Fibonacci (a call per node, shallow frames) and a loop of tiny
method calls through a small class hierarchy.  Pure Python, no allocation
to speak of, so a profiler's cost per call or per sample dominates.
"""


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


class Shape:
    def __init__(self, size):
        self.size = size

    def area(self):
        return self.size * self.size


class Square(Shape):
    def scaled(self, k):
        return self.area() * k


def dispatch(rounds):
    shapes = [Square(i % 7) for i in range(64)]
    total = 0
    for r in range(rounds):
        for s in shapes:
            total += s.scaled(r & 3)
    return total


def main():
    fib(33)
    dispatch(80_000)


def unit():
    """A slice of main() (~1/300, ~3 ms) for bench/paired.py."""
    fib(20)
    dispatch(200)


if __name__ == "__main__":
    main()
