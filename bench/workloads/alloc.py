"""Allocation-heavy workload: churn of short-lived lists, strings, bytes.

Formats and joins strings, splits them again, slices and concatenates
bytes, builds and sorts temporary lists and tuples: most time goes to the
allocator and to freeing, with many small objects born and dying.
"""


def strings(n):
    out = 0
    for i in range(n):
        line = ",".join([str(i), "x" * (i % 40), "%08x" % (i * 2654435761)])
        fields = line.split(",")
        out += len(fields[1].upper() + fields[2][::-1])
    return out


def buffers(n):
    chunk = bytes(range(256))
    total = 0
    for i in range(n):
        b = chunk[i % 64:] + chunk[:i % 64]
        ba = bytearray(b)
        ba[0] = i & 0xFF
        total += len(bytes(ba) * 3)
    return total


def lists(n):
    total = 0
    for i in range(n):
        items = [(j * 31 % 17, str(j)) for j in range(i % 50)]
        items.sort()
        total += len(list(reversed(items)))
    return total


def main():
    strings(350_000)
    buffers(550_000)
    lists(70_000)


def unit():
    """A slice of main() (1/200, ~7 ms) for bench/paired.py."""
    strings(1_750)
    buffers(2_750)
    lists(350)


if __name__ == "__main__":
    main()
