"""The trainer's decisions are records; each one's words are the English the command line
and the API have always printed (and ``Trainer.note`` joins them with "; ")."""

import pytest

from napari_unet.core.training.events import (
    BatchHalved,
    KeptEarlier,
    NewHead,
    ObjectsTuned,
    StartedFresh,
    StartedFromImage,
    UsedLuminance,
    in_words,
)

WORDS = [
    (StartedFresh("architecture", offered_channels=1),
     "started fresh: the starting model has 1 channel(s) and another architecture"),
    (StartedFresh("mode", mode="instance", offered_mode="semantic"),
     "started fresh: the previous model was a semantic model, this training is instance"),
    (StartedFresh("shape", channels=3, classes=2, offered_channels=1, offered_classes=2),
     "started fresh: the data have 3 channel(s) and 2 classes, the previous model 1 and 2"),
    (StartedFresh("volumes"),
     "started fresh: the previous model does not fit these volumes or settings"),
    (UsedLuminance(),
     "the colour image is used as its luminance (the starting model is grayscale)"),
    (NewHead(4), "4 classes: the starting model's body with a new output layer"),
    (StartedFromImage(30), "started from what it learnt of the image alone (30 steps)"),
    (BatchHalved("cpu (2 threads)", 2),
     "ran out of memory on cpu (2 threads); batch size reduced to 2"),
    (KeptEarlier(57, 0.6131, 0.5229, 218),
     "kept the model of step 57, the best on the held-out strokes (mean IoU 0.613 against "
     "0.523 at step 218)"),
    (KeptEarlier(0, 0.7, 0.7, 6),
     "kept the starting model: the retrained one did not score better on the held-out "
     "strokes (mean IoU 0.700 against 0.700 at step 6)"),
    (KeptEarlier(0, 0.7, 0.4, 6),
     "kept the previous model: the retrained one scored worse on the held-out strokes "
     "(mean IoU 0.700 against 0.400 at step 6)"),
    (ObjectsTuned(0.4, 0.6, 0.71, 0.83),
     "object settings fitted to your painted objects (foreground threshold 0.4, split "
     "threshold 0.6: match 0.71 -> 0.83)"),
]


@pytest.mark.parametrize(("event", "words"), WORDS)
def test_each_event_says_what_it_always_said(event, words):
    assert event.words() == words


def test_the_note_joins_the_events_in_order():
    events = [UsedLuminance(), KeptEarlier(57, 0.6131, 0.5229, 218)]
    assert in_words(events) == f"{events[0].words()}; {events[1].words()}"
    assert in_words([]) == ""


def test_kept_earlier_tells_which_weights_it_kept():
    assert KeptEarlier(57, 0.6, 0.5, 218).which == "step"
    assert KeptEarlier(0, 0.6, 0.6, 9).which == "start"  # a tie: training did not beat it
    assert KeptEarlier(0, 0.6, 0.5, 9).which == "previous"
