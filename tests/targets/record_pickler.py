"""Pickles and unpickles an instance of a class defined in __main__;
prints the class's module and name and the value.

The test expects "__main__ Point 7", run as a script or with -m.
"""
import pickle


class Point:
    def __init__(self, x):
        self.x = x


p = pickle.loads(pickle.dumps(Point(7)))
print(type(p).__module__, type(p).__name__, p.x)
