from __future__ import annotations

from pathlib import Path

import pytest

from pytest_mllmtrust.core.config import parse_config
from pytest_mllmtrust.core.errors import ConfigError
from pytest_mllmtrust.gpus import (
    check_fits,
    configure_gpus,
    gpu_slice,
    needs_local_gpu,
    visible_gpus,
    worker_index,
)

FOUR = ["0", "1", "2", "3"]


def test_one_gpu_per_worker() -> None:
    assert [gpu_slice(k, 1, FOUR) for k in range(4)] == [["0"], ["1"], ["2"], ["3"]]
    assert gpu_slice(2, 1, FOUR) == ["2"]


def test_two_gpus_per_worker() -> None:
    assert gpu_slice(0, 2, FOUR) == ["0", "1"]
    assert gpu_slice(1, 2, FOUR) == ["2", "3"]


def test_the_parents_cuda_visible_devices_are_shared_out() -> None:
    visible = visible_gpus({"CUDA_VISIBLE_DEVICES": "4,5,6,7"})
    assert visible == ["4", "5", "6", "7"]
    assert gpu_slice(0, 1, visible) == ["4"]
    assert gpu_slice(3, 1, visible) == ["7"]


def test_uuid_and_mig_names_are_kept_as_they_are() -> None:
    names = "GPU-8f3c1a2e-0000-1111-2222-333344445555, MIG-GPU-aa/1/0"
    visible = visible_gpus({"CUDA_VISIBLE_DEVICES": names})
    assert visible == ["GPU-8f3c1a2e-0000-1111-2222-333344445555", "MIG-GPU-aa/1/0"]
    assert gpu_slice(1, 1, visible) == ["MIG-GPU-aa/1/0"]


def test_too_many_workers_is_a_clear_error_with_the_numbers() -> None:
    with pytest.raises(ConfigError, match=r"gw2 needs 2 GPU\(s\).*4 are visible") as info:
        gpu_slice(2, 2, FOUR)
    assert "--mllm-gpus-per-worker" in str(info.value)
    assert "at most 2 worker(s)" in str(info.value)
    with pytest.raises(ConfigError, match=r"3 xdist workers x 2 GPU\(s\).*need 6 GPUs, but 4"):
        check_fits(3, 2, FOUR)
    check_fits(2, 2, FOUR)


def test_a_short_slice_is_an_error_too() -> None:
    with pytest.raises(ConfigError, match="3 are visible"):
        gpu_slice(1, 2, ["0", "1", "2"])


def test_visible_gpus_without_cuda_visible_devices_counts_the_driver_entries(
    tmp_path: Path,
) -> None:
    for bus in ("0000:17:00.0", "0000:65:00.0"):
        (tmp_path / bus).mkdir()
    assert visible_gpus({}, driver_dir=tmp_path) == ["0", "1"]
    assert visible_gpus({}, driver_dir=tmp_path / "absent") == []


@pytest.mark.parametrize("value", ["", "-1", " "])
def test_hidden_gpus_mean_nothing_to_pin(value: str) -> None:
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": value}) == []


def test_worker_index() -> None:
    assert worker_index("gw0") == 0
    assert worker_index("gw12") == 12
    with pytest.raises(ConfigError):
        worker_index("controller")


def test_configure_gpus_pins_a_worker_in_its_environment() -> None:
    env = {"CUDA_VISIBLE_DEVICES": "3,5,7,9"}
    config = parse_config({"model": "replay:x", "gpus_per_worker": "2"}, Path.cwd())
    worker = {"workerid": "gw1", "workercount": 2}
    assert configure_gpus(config, workerinput=worker, environ=env, explicit=True) == ["7", "9"]
    assert env["CUDA_VISIBLE_DEVICES"] == "7,9"


def test_configure_gpus_changes_nothing_without_gpus_or_on_the_controller() -> None:
    config = parse_config({"model": "hf:x"}, Path.cwd())
    env: dict[str, str] = {"CUDA_VISIBLE_DEVICES": ""}
    assert configure_gpus(config, workerinput={"workerid": "gw0"}, environ=env) is None
    assert env == {"CUDA_VISIBLE_DEVICES": ""}
    env = {"CUDA_VISIBLE_DEVICES": "0,1"}
    assert configure_gpus(config, workerinput=None, numprocesses=2, environ=env) is None
    assert env == {"CUDA_VISIBLE_DEVICES": "0,1"}


def test_too_few_gpus_fail_only_where_a_gpu_is_needed() -> None:
    env = {"CUDA_VISIBLE_DEVICES": "0,1"}
    local = parse_config({"model": "hf:x"}, Path.cwd())
    with pytest.raises(ConfigError, match="3 xdist workers"):
        configure_gpus(local, workerinput=None, numprocesses=3, environ=env)
    with pytest.raises(ConfigError, match="3 xdist workers"):
        configure_gpus(local, workerinput={"workerid": "gw0", "workercount": 3}, environ=env)
    # answers replayed or asked of an API use no GPU here: workers are left as they are
    remote = parse_config({"model": "replay:x"}, Path.cwd())
    worker = {"workerid": "gw2", "workercount": 3}
    assert configure_gpus(remote, workerinput=worker, environ=env) is None
    assert env == {"CUDA_VISIBLE_DEVICES": "0,1"}


def test_needs_local_gpu() -> None:
    assert needs_local_gpu(parse_config({"model": "vllm:x"}, Path.cwd()))
    assert needs_local_gpu(parse_config({"model": "llava-1.5-7b"}, Path.cwd()))
    assert not needs_local_gpu(parse_config({"model": "hf:x", "device": "cpu"}, Path.cwd()))
    assert not needs_local_gpu(parse_config({"model": "replay:x"}, Path.cwd()))
    assert needs_local_gpu(parse_config({"model": "replay:x", "judge": "hf:j"}, Path.cwd()))
