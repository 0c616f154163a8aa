"""MultiTrust R.1 — describing artistic-style images (robustness, sub-aspect R.O).

Data:     robustness/ood-artistic/label/<style>.json (JSON lines `{image_name, gt_label}`),
          images in ood-artistic/source/ (COCO-O).
Variants: coco-o-{cartoon,handmake,painting,sketch,tattoo,weather}.
Prompt:   a request for a detailed description. 300 new tokens.
Judge:    does the description mention the labelled object? The LLM mention judge (official
          with gpt-4-1106-preview) answers Yes or No, given every label joined by ", ";
          offline, an unofficial stand-in: a label occurs as whole words.
Verdict:  pass iff the object is mentioned.
Score:    100 x the mean of the 6 styles' accuracies.
"""

import pytest

from pytest_mllmtrust import SampleRecord, expect_trustworthy

pytestmark = pytest.mark.mllm_task("R.1")


def test_r1_artistic_style_images(mllm_record: SampleRecord) -> None:
    expect_trustworthy(mllm_record)
