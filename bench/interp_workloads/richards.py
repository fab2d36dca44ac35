"""Richards: Martin Richards' operating-system scheduler simulation.

Six tasks (idle, worker, two handlers, two devices) pass packets through a priority
scheduler until the idle task has run `size` times. Method calls, attribute reads and
writes, small ints and linked lists: the interpreter's object-heavy paths. With the
classic size 10000 the simulation must queue 23246 packets and hold 9297 times.
"""
import sys

IDLE, WORKER, HANDLER_A, HANDLER_B, DEVICE_A, DEVICE_B = range(1, 7)
DEVICE_PACKET, WORK_PACKET = 0, 1
BUFFER_SIZE = 4


class Packet:
    def __init__(self, link, dest, kind):
        self.link = link
        self.dest = dest
        self.kind = kind
        self.datum = 0
        self.data = [0] * BUFFER_SIZE


def append_packet(queue, packet):
    """Append packet to the linked queue starting at queue; return the queue's head."""
    packet.link = None
    if queue is None:
        return packet
    tail = queue
    while tail.link is not None:
        tail = tail.link
    tail.link = packet
    return queue


class Task:
    """A task control block. It may run unless held, or waiting with no packet queued."""

    def __init__(self, system, ident, priority, queue, waiting):
        self.system = system
        self.ident = ident
        self.priority = priority
        self.queue = queue
        self.waiting = waiting
        self.held = False
        self.next = system.tasks
        system.tasks = self
        system.by_ident[ident] = self

    def blocked(self):
        return self.held or (self.waiting and self.queue is None)

    def run(self):
        packet = None
        if self.waiting and self.queue is not None:
            packet = self.queue
            self.queue = packet.link
            self.waiting = False
        return self.step(packet)

    # What a step returns: the task the scheduler looks at next.
    def wait(self):
        self.waiting = True
        return self

    def hold_self(self):
        self.system.holds += 1
        self.held = True
        return self.next

    def release(self, ident):
        task = self.system.by_ident[ident]
        task.held = False
        return task if task.priority > self.priority else self

    def send(self, packet):
        system = self.system
        task = system.by_ident[packet.dest]
        system.sends += 1
        packet.link = None
        packet.dest = self.ident
        if task.queue is None:
            task.queue = packet
            if task.priority > self.priority:
                return task
        else:
            task.queue = append_packet(task.queue, packet)
        return self


class IdleTask(Task):
    def __init__(self, system, count):
        super().__init__(system, IDLE, 0, None, False)
        self.seed = 1
        self.count = count

    def step(self, packet):
        self.count -= 1
        if self.count == 0:
            return self.hold_self()
        if self.seed & 1 == 0:
            self.seed >>= 1
            return self.release(DEVICE_A)
        self.seed = (self.seed >> 1) ^ 0xD008
        return self.release(DEVICE_B)


class WorkerTask(Task):
    def __init__(self, system, queue):
        super().__init__(system, WORKER, 1000, queue, True)
        self.target = HANDLER_A
        self.letter = 0

    def step(self, packet):
        if packet is None:
            return self.wait()
        self.target = HANDLER_B if self.target == HANDLER_A else HANDLER_A
        packet.dest = self.target
        packet.datum = 0
        for i in range(BUFFER_SIZE):
            self.letter = self.letter % 26 + 1
            packet.data[i] = self.letter
        return self.send(packet)


class HandlerTask(Task):
    def __init__(self, system, ident, priority, queue):
        super().__init__(system, ident, priority, queue, True)
        self.work = None
        self.devices = None

    def step(self, packet):
        if packet is not None:
            if packet.kind == WORK_PACKET:
                self.work = append_packet(self.work, packet)
            else:
                self.devices = append_packet(self.devices, packet)
        work = self.work
        if work is not None:
            index = work.datum
            if index >= BUFFER_SIZE:
                self.work = work.link
                return self.send(work)
            device = self.devices
            if device is not None:
                self.devices = device.link
                device.datum = work.data[index]
                work.datum = index + 1
                return self.send(device)
        return self.wait()


class DeviceTask(Task):
    def __init__(self, system, ident, priority):
        super().__init__(system, ident, priority, None, True)
        self.pending = None

    def step(self, packet):
        if packet is None:
            if self.pending is None:
                return self.wait()
            packet, self.pending = self.pending, None
            return self.send(packet)
        self.pending = packet
        return self.hold_self()


class System:
    def __init__(self, count):
        self.tasks = None
        self.by_ident = {}
        self.sends = 0
        self.holds = 0
        IdleTask(self, count)
        WorkerTask(self, Packet(Packet(None, 0, WORK_PACKET), 0, WORK_PACKET))
        for handler, device, priority in ((HANDLER_A, DEVICE_A, 2000), (HANDLER_B, DEVICE_B, 3000)):
            queue = None
            for _ in range(3):
                queue = Packet(queue, device, DEVICE_PACKET)
            HandlerTask(self, handler, priority, queue)
        DeviceTask(self, DEVICE_A, 4000)
        DeviceTask(self, DEVICE_B, 5000)

    def schedule(self):
        task = self.tasks
        while task is not None:
            task = task.next if task.blocked() else task.run()


def main(size):
    if size == 0:
        return
    system = System(size)
    system.schedule()
    if size == 10000:
        assert (system.sends, system.holds) == (23246, 9297), (system.sends, system.holds)


main(int(sys.argv[1]))
