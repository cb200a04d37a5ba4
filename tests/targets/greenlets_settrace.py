"""Installs a greenlet trace function, profiles with greenlets on across two
switches, and checks (asserts) that the function saw the switches and is
back in place after stop(); prints "ok". The test expects "ok" and status
0.
"""
import greenlet, stackwatch
seen = []
def mine(event, args):
    seen.append(event)
greenlet.settrace(mine)
def child():
    main.switch()
main = greenlet.getcurrent()
p = stackwatch.Profiler(greenlets=True)
p.start()
g = greenlet.greenlet(child)
g.switch()
p.stop()
assert seen.count("switch") >= 2, seen
assert greenlet.gettrace() is mine, greenlet.gettrace()
print("ok")
