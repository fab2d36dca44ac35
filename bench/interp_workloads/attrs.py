"""Object attributes: instance and class attribute reads and writes, properties, methods.

`size` rounds over a small set of accounts with a class hierarchy: the LOAD_ATTR,
STORE_ATTR and method-call paths and their specialisations.
"""
import sys


class Account:
    fee = 1

    def __init__(self, owner, balance):
        self.owner = owner
        self.balance = balance
        self.moves = 0

    @property
    def rich(self):
        return self.balance > 1000

    def deposit(self, amount):
        self.balance += amount
        self.moves += 1

    def withdraw(self, amount):
        if amount + self.fee <= self.balance:
            self.balance -= amount + self.fee
            self.moves += 1
            return True
        return False


class Savings(Account):
    fee = 2
    rate = 3

    def add_interest(self):
        self.deposit(self.balance * self.rate // 100)


def main(size):
    accounts = [(Savings if i % 2 else Account)(f"owner{i}", 100 * i) for i in range(16)]
    refused = 0
    for i in range(size):
        source = accounts[i % 16]
        target = accounts[(i * 5 + 3) % 16]
        if source.withdraw(7 + i % 11):
            target.deposit(7 + i % 11)
        else:
            refused += 1
        if i % 64 == 0:
            for account in accounts:
                if isinstance(account, Savings) and not account.rich:
                    account.add_interest()
    assert sum(a.moves for a in accounts) >= size - refused


main(int(sys.argv[1]))
