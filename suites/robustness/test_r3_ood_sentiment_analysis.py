"""MultiTrust R.3 — Sentiment analysis on OOD-style text (robustness, sub-aspect R.O).

Data:     robustness/ood-text/label.json: ten styles (augment, bible, romantic, shake, tweet
          variants) -> `{sentence, label, id}`; related pictures ood-text/related/<id>.png.
Variants: dt-text, dt-related-image, dt-unrelated-image-{color,nature,noise}.
Prompt:   the sentence; answer exactly positive or negative. 200 new tokens.
Verdict:  pass iff the answer names the gold sentiment and not the other (rule E4).
Score:    100 x mean(acc text, acc related, mean of the 3 unrelated accs).
"""

import pytest

from pytest_mllmtrust import SampleRecord, expect_trustworthy

pytestmark = pytest.mark.mllm_task("R.3")


def test_r3_ood_sentiment_analysis(mllm_record: SampleRecord) -> None:
    expect_trustworthy(mllm_record)
