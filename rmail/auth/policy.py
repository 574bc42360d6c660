"""What a new password must be (webmail registration and password change): long enough, not
one of the passwords attackers try first, and not the user's own name or address.

The list below is the well-known head of every leaked-password ranking (typed from memory of
those rankings, not copied from a file); with the minimum length it stops the guesses that
matter. Patterns (one repeated character, a run of the keyboard or the alphabet, digits
only) catch the rest of that family.
"""

from __future__ import annotations

from rmail.store.errors import InvalidValue

__all__ = ["COMMON_PASSWORDS", "check_new_password"]

_COMMON = """
123456 123456789 12345678 1234567890 12345 1234567 123123 111111 000000 654321 666666
121212 112233 123321 987654321 1q2w3e4r 1q2w3e4r5t 1qaz2wsx qwerty qwerty123 qwertyuiop
qwerty1 asdfgh asdfghjkl zxcvbnm zxcvbnm123 password password1 password12 password123
password1234 passw0rd p@ssw0rd p@ssword pa55word iloveyou iloveyou1 princess princess1
sunshine sunshine1 football football1 baseball welcome welcome1 welcome123 admin admin123
administrator letmein letmein123 monkey monkey123 dragon dragon123 master master123 shadow
superman batman trustno1 michael jennifer jordan23 charlie donald freedom whatever
starwars computer internet abc123 abcd1234 abcdef abcdefg abcdefgh abcdefghij aa123456
qazwsx qazwsxedc 1qazxsw2 zaq12wsx changeme changeme123 secret secret123 default
test1234 test123 testtest guest guest123 login login123 hello123 helloworld hello1234
summer2024 winter2024 spring2024 autumn2024 summer2025 winter2025 spring2025 autumn2025
summer2026 winter2026 spring2026 autumn2026 january february december
loveme lovely flower hottie 11111111 22222222 88888888 99999999 00000000 12341234
1234qwer qwer1234 asdf1234 zxcv1234 q1w2e3r4 q1w2e3r4t5 a1b2c3d4 iloveyou123
mypassword yourpassword newpassword password! password01 passwort motdepasse contrasena
senha123 parola123 salasana qwertz qwertz123 azerty azerty123
"""
COMMON_PASSWORDS = frozenset(_COMMON.split())

_RUNS = ("abcdefghijklmnopqrstuvwxyz", "qwertyuiopasdfghjklzxcvbnm", "01234567890",
         "1qaz2wsx3edc4rfv5tgb", "qwertzuiop", "azertyuiop")


def _is_run(text: str) -> bool:
    low = text.lower()
    return any(low in run or low in run[::-1] for run in _RUNS if len(low) >= 4)


def check_new_password(password: str, *, min_length: int, username: str = "",
                       domain: str = "") -> None:
    """InvalidValue with a message for the user when `password` is not acceptable."""
    if len(password) < min_length:
        raise InvalidValue(f"Use at least {min_length} characters for your password.")
    if len(password) > 1024:
        raise InvalidValue("That password is too long (at most 1024 characters).")
    low = password.lower()
    if low in COMMON_PASSWORDS or low.rstrip("!.1") in COMMON_PASSWORDS:
        raise InvalidValue("That password is one of the most common ones; choose another.")
    if len(set(low)) <= 2 or low.isdigit() or _is_run(low):
        raise InvalidValue("That password is too easy to guess; choose another.")
    for name in (username.lower(), domain.lower(), f"{username}@{domain}".lower()):
        if len(name) >= 3 and name in low and len(low.replace(name, "")) < 6:
            raise InvalidValue("Your password must not be your name or address.")
