"""Unit tests of the hello package (standard library unittest only)."""

import unittest

from hello import greet


class GreetTest(unittest.TestCase):
    def test_greets_by_name(self) -> None:
        self.assertEqual(greet("Plue"), "Hello, Plue!")

    def test_greets_the_world_by_default(self) -> None:
        self.assertEqual(greet(), "Hello, world!")

    def test_blank_names_are_the_world(self) -> None:
        self.assertEqual(greet("  "), "Hello, world!")

    def test_surrounding_blanks_are_dropped(self) -> None:
        self.assertEqual(greet("  Ada "), "Hello, Ada!")


if __name__ == "__main__":
    unittest.main()
