import subprocess
import sys


def test_import_hf_cser_registers_auto_classes_in_a_fresh_process():
    code = (
        "import hf_cser\n"
        "from transformers import AutoConfig, AutoFeatureExtractor, AutoModel\n"
        "from transformers.models.auto.configuration_auto import CONFIG_MAPPING\n"
        "cfg = AutoConfig.for_model('ge2e_speaker_encoder', num_layers=1, hidden_size=8, embedding_size=8)\n"
        "model = AutoModel.from_config(cfg)\n"
        "print(type(model).__name__, CONFIG_MAPPING['ge2e_speaker_encoder'].__name__)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["Ge2eSpeakerEncoderModel", "Ge2eSpeakerEncoderConfig"]
