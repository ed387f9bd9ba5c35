"""hat's random generator in Python, bit for bit: xoshiro256** seeded through SplitMix64
(Sources/HATTensor/Random.swift), Swift's `next(upperBound:)` (Lemire's nearly divisionless
method on a 64×64→128-bit product) and Swift's `MutableCollection.shuffle(using:)` (a forward
Fisher–Yates: position i swaps with i + random(below: n − i)). With these the training data
order and the train/validation split are reproduced from the same seed without any file
written by hat (tests/test_data.py pins them against values printed by Swift).
"""

MASK64 = (1 << 64) - 1


def _rotl(x, k):
    return ((x << k) | (x >> (64 - k))) & MASK64


class RandomGenerator:
    """xoshiro256**, state four 64-bit words (as in hat's checkpoints, never needed by training)."""

    def __init__(self, seed):
        s = seed & MASK64
        words = []
        for _ in range(4):
            s = (s + 0x9E3779B97F4A7C15) & MASK64
            z = s
            z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
            z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
            words.append(z ^ (z >> 31))
        self.state = words

    def next(self):
        s = self.state
        result = (_rotl((s[1] * 5) & MASK64, 7) * 9) & MASK64
        t = (s[1] << 17) & MASK64
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = _rotl(s[3], 45)
        return result

    def next_below(self, bound):
        """Uniform in 0..<bound, as Swift's RandomNumberGenerator.next(upperBound:) for UInt64."""
        if bound <= 0:
            raise ValueError(f"bound must be positive, found {bound}")
        product = self.next() * bound
        if (product & MASK64) < bound:
            threshold = ((1 << 64) - bound) % bound
            while (product & MASK64) < threshold:
                product = self.next() * bound
        return product >> 64

    def shuffle(self, items):
        """Shuffles the list in place exactly as Swift's `items.shuffle(using: &rng)`."""
        amount = len(items)
        index = 0
        while amount > 1:
            j = index + self.next_below(amount)
            amount -= 1
            items[index], items[j] = items[j], items[index]
            index += 1
        return items


def training_order(rows, seed, epoch):
    """The order of the training rows in `epoch` (Trainer.order in Sources/HATModel/Trainer.swift)."""
    rng = RandomGenerator((seed * 0x9E3779B9 + epoch + 1) & MASK64)
    return rng.shuffle(list(range(rows)))
