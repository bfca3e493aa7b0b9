from hypothesis import given, settings
from hypothesis import strategies as st

from uxlab.streaming.tokens import split_tokens

PROSE = """When you boil an egg, the proteins in the white and the yolk slowly unfold and then bond to
each other as the temperature rises. The white sets first, at around sixty-two degrees, while the
yolk needs a few degrees more. That is why a soft-boiled egg has a firm white and a runny centre. If
you want a yolk that is just set, put the eggs into water that is already simmering and leave them
for about seven minutes. Then move them into cold water, which stops the cooking and makes them
easier to peel. There are a few things that can go wrong. Very fresh eggs are often hard to peel,
because the membrane sticks to the shell. Eggs straight from the fridge may crack when they hit hot
water, so lower them in gently with a spoon. In short, keep the water at a gentle simmer, time the
eggs carefully, and cool them quickly."""


@given(st.text())
@settings(max_examples=300)
def test_it_is_lossless_for_any_text(text):
    assert "".join(split_tokens(text)) == text


@given(st.text())
def test_it_never_produces_empty_tokens(text):
    assert all(split_tokens(text))


def test_it_returns_no_tokens_for_empty_text():
    assert split_tokens("") == []


def test_it_attaches_leading_whitespace_to_the_following_word():
    assert split_tokens("Hello the  cat") == ["Hello", " the", "  cat"]


def test_it_makes_punctuation_its_own_token():
    assert split_tokens("Yes, no. Why?") == ["Yes", ",", " no", ".", " Why", "?"]


def test_it_keeps_trailing_whitespace_as_a_token():
    assert split_tokens("end \n") == ["end", " \n"]


def test_it_splits_long_words_into_pieces_of_about_four_characters():
    assert split_tokens(" abcdef") == [" abcdef"]
    assert split_tokens(" abcdefg") == [" abcd", "efg"]
    assert split_tokens(" temperature") == [" temp", "erat", "ure"]


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=7, max_size=60))
def test_it_keeps_pieces_of_a_long_word_of_three_or_four_characters(word):
    pieces = split_tokens(word)
    assert len(pieces) >= 2
    assert all(3 <= len(p) <= 4 for p in pieces)


def test_it_gives_about_one_point_three_tokens_per_word_on_english_prose():
    ratio = len(split_tokens(PROSE)) / len(PROSE.split())
    assert 1.15 <= ratio <= 1.45
