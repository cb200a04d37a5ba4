"""Grows the process by ~60 MiB in steps over ~0.3 s, then frees it, for
`stackwatch trace --memory=0.005`: the RSS counter track must rise by
most of it and come back down."""

import time


def grow():
    blocks = []
    for _ in range(30):
        blocks.append(bytearray(2 * 1024 * 1024))  # touched: zero-filled
        time.sleep(0.01)
    return blocks


def main():
    blocks = grow()
    time.sleep(0.05)
    del blocks[:]
    time.sleep(0.05)


main()
