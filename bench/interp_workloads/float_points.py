"""Floats in objects: `size` points made from math.sin/cos, normalised, then reduced.

Each point is a small instance with three float attributes, so this mixes float
arithmetic, math calls, attribute stores and the creation and freeing of many objects.
"""
import math
import sys


class Point:
    def __init__(self, i):
        self.x = x = math.sin(i)
        self.y = math.cos(i) * 3
        self.z = (x * x) / 2

    def normalize(self):
        norm = math.sqrt(self.x * self.x + self.y * self.y + self.z * self.z)
        self.x /= norm
        self.y /= norm
        self.z /= norm

    def maximize(self, other):
        self.x = self.x if self.x > other.x else other.x
        self.y = self.y if self.y > other.y else other.y
        self.z = self.z if self.z > other.z else other.z
        return self


def main(size):
    points = [Point(i) for i in range(size)]
    for point in points:
        point.normalize()
    if points:
        top = points[0]
        for point in points[1:]:
            top = top.maximize(point)
        assert 0.99 < top.y <= 1.0


main(int(sys.argv[1]))
