"""Deep-stack workload: the same work done at the bottom of a 200-frame
Python stack.

Every sample of this program has to walk about 200 frames, so it shows the
cost per frame of a sampler (reading, and resolving code objects), which
the shallow workloads hide.
"""

DEPTH = 200


def descend(depth, work):
    if depth == 0:
        return work()
    return descend(depth - 1, work) + 1


def leaf():
    total = 0
    for i in range(20_000):
        total += i * i % 7
    return total


def main():
    for _ in range(850):
        descend(DEPTH, leaf)


def unit():
    """A slice of main() (1/170, ~8 ms) for bench/paired.py."""
    for _ in range(5):
        descend(DEPTH, leaf)


if __name__ == "__main__":
    main()
