import pytest
import torch

from hf_cser.trainers import SapaTrainingArguments
from hf_cser.trainers.sapa_arguments import cpu_only_distributed_launch


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only machine case")
def test_distributed_launch_without_accelerator_turns_on_use_cpu(monkeypatch, tmp_path):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert not cpu_only_distributed_launch()
    assert SapaTrainingArguments(output_dir=str(tmp_path)).use_cpu is False
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert cpu_only_distributed_launch()
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert not cpu_only_distributed_launch()
