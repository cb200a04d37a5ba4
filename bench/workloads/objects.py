"""Object-heavy workload: building and mutating objects, dicts and sets.

Creates records (instances with attributes and with __slots__), indexes
them in dicts of lists, updates their attributes and counts through
dict.get/setdefault, as an ORM-ish or data-munging program does.
"""


class Account:
    def __init__(self, ident, owner, region):
        self.ident = ident
        self.owner = owner
        self.region = region
        self.balance = 0
        self.tags = set()


class Transfer:
    __slots__ = ("src", "dst", "amount")

    def __init__(self, src, dst, amount):
        self.src = src
        self.dst = dst
        self.amount = amount


REGIONS = ("north", "south", "east", "west", "centre")


def build(n):
    accounts = {}
    by_region = {}
    for i in range(n):
        a = Account(i, "owner%d" % (i % 997), REGIONS[i % len(REGIONS)])
        accounts[i] = a
        by_region.setdefault(a.region, []).append(a)
    return accounts, by_region


def simulate(accounts, steps):
    n = len(accounts)
    counts = {}
    for k in range(steps):
        t = Transfer(accounts[(k * 7919) % n], accounts[(k * 104729) % n],
                     k % 500)
        t.src.balance -= t.amount
        t.dst.balance += t.amount
        if t.amount > 400:
            t.dst.tags.add("big")
        key = (t.src.region, t.dst.region)
        counts[key] = counts.get(key, 0) + 1
    return counts


def report(by_region):
    return {region: {"n": len(items),
                     "total": sum(a.balance for a in items),
                     "big": sum(1 for a in items if "big" in a.tags)}
            for region, items in by_region.items()}


def unit():
    """main() at 1/20 of its size (~5 ms) for bench/paired.py."""
    work(1_750, 7_000)


def work(n_accounts, n_steps):
    accounts, by_region = build(n_accounts)
    simulate(accounts, n_steps)
    report(by_region)


def main():
    for _ in range(3):
        work(35_000, 140_000)


if __name__ == "__main__":
    main()
