"""N-body: the Sun and the four gas giants, integrated with a symplectic Euler step.

`size` steps of float arithmetic on lists (no objects besides floats and lists): the
interpreter's float and subscript paths. Prints nothing; checks that energy is conserved.
"""
import sys

PI = 3.141592653589793
SOLAR_MASS = 4 * PI * PI
DAYS_PER_YEAR = 365.24


def planet(position, velocity, mass):
    """[x, y, z, vx, vy, vz, mass] in AU, AU/year and solar masses."""
    return [*position, *(v * DAYS_PER_YEAR for v in velocity), mass * SOLAR_MASS]


def solar_system():
    bodies = [
        [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, SOLAR_MASS],
        planet((4.84143144246472090e00, -1.16032004402742839e00, -1.03622044471123109e-01),
               (1.66007664274403694e-03, 7.69901118419740425e-03, -6.90460016972063023e-05),
               9.54791938424326609e-04),
        planet((8.34336671824457987e00, 4.12479856412430479e00, -4.03523417114321381e-01),
               (-2.76742510726862411e-03, 4.99852801234917238e-03, 2.30417297573763929e-05),
               2.85885980666130812e-04),
        planet((1.28943695621391310e01, -1.51111514016986312e01, -2.23307578892655734e-01),
               (2.96460137564761618e-03, 2.37847173959480950e-03, -2.96589568540237556e-05),
               4.36624404335156298e-05),
        planet((1.53796971148509165e01, -2.59193146099879641e01, 1.79258772950371181e-01),
               (2.68067772490389322e-03, 1.62824170038242295e-03, -9.51592254519715870e-05),
               5.15138902046611451e-05),
    ]
    # Give the Sun the momentum that makes the system's total zero.
    for axis in range(3):
        momentum = sum(body[3 + axis] * body[6] for body in bodies)
        bodies[0][3 + axis] = -momentum / SOLAR_MASS
    return bodies


def energy(bodies):
    total = 0.0
    for i, (x, y, z, vx, vy, vz, m) in enumerate(bodies):
        total += 0.5 * m * (vx * vx + vy * vy + vz * vz)
        for (x2, y2, z2, _, _, _, m2) in bodies[i + 1:]:
            dx, dy, dz = x - x2, y - y2, z - z2
            total -= m * m2 / (dx * dx + dy * dy + dz * dz) ** 0.5
    return total


def advance(bodies, dt, steps):
    pairs = [(a, b) for i, a in enumerate(bodies) for b in bodies[i + 1:]]
    for _ in range(steps):
        for a, b in pairs:
            dx = a[0] - b[0]
            dy = a[1] - b[1]
            dz = a[2] - b[2]
            distance2 = dx * dx + dy * dy + dz * dz
            magnitude = dt / (distance2 * distance2 ** 0.5)
            ma = a[6] * magnitude
            mb = b[6] * magnitude
            a[3] -= dx * mb
            a[4] -= dy * mb
            a[5] -= dz * mb
            b[3] += dx * ma
            b[4] += dy * ma
            b[5] += dz * ma
        for body in bodies:
            body[0] += dt * body[3]
            body[1] += dt * body[4]
            body[2] += dt * body[5]


def main(size):
    bodies = solar_system()
    before = energy(bodies)
    advance(bodies, 0.01, size)
    after = energy(bodies)
    assert abs(after - before) < 1e-3 * abs(before), (before, after)


main(int(sys.argv[1]))
