"""Settings of recognition and synthesis."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field

# The synthesisers `speech.synthesizer` and `tongdai say --engine` can name.
SYNTHESIZER_NAMES: tuple[str, ...] = ("espeak-ng", "gtts")


class SpeechSettings(BaseModel):
    """Recogniser and synthesiser choice, pools and caches."""

    recognizer: str = Field(default="viet-asr", description="viet-asr | vosk")
    vietasr_runtime: str = Field(
        default="onnxruntime",
        description="onnxruntime: the wheel's model with full graph optimisation (about half "
        "the CPU); native: the wheel's own runtime",
    )
    vosk_model_dir: Path | None = None
    asr_workers: int = 2
    # Utterances recognised at once; beyond this a question falls back to the keypad. With
    # batched calls and silent chunks skipped a stream costs 0.070-0.076 CPU s per audio second:
    # two cores' bound is 26-28 streams (bench/asr.py), and dialog utterances rarely all overlap.
    max_streams: int = 32
    asr_batch: int = Field(
        default=16,
        description="onnxruntime: at most this many streams' chunks decoded in one model call "
        "when streams wait for a core (1: no batching)",
    )
    asr_bias: float = Field(
        default=3.0,
        description="onnxruntime: log-probability bonus per token for the phrases a question "
        "expects (its options, yes/no) when rescoring a transcript (0: no bias)",
    )
    synthesizer: str = Field(default="gtts", description="gtts | espeak-ng | recorded")
    fallback_synthesizer: str = "espeak-ng"
    voice: str = "vi"
    rate_wpm: int = 150
    prompt_cache_dir: Path = Path("var/prompts")
    recordings_dir: Path = Path("var/recordings")
    # Callers' voice messages (ivr/queue/messages.py), owner-only, purged with the calls.
    messages_dir: Path = Path("var/messages")
    # Recorded words and phrases dynamic answers are joined from (speech.voice_pack).
    voice_pack_dir: Path = Path("var/voice-pack")
