"""For `stackwatch mem record --greenlets`: a gevent greenlet "keeper"
keeps 20 MiB and is still alive when the script (and the profile) ends."""
import gevent

kept = []


def keeper():
    kept.extend(bytes(4096) for _ in range(20 * 256))
    gevent.sleep(60)


g = gevent.spawn(keeper)
gevent.sleep(0.3)
