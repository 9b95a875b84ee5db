"""``tongdai`` subcommands of the speech package."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any) -> None:
    """Add this package's subcommands to the top-level parser."""
    _ = (sub, argparse)
    _register_recognition(sub)
    _register_say(sub)


def _register_recognition(sub: Any) -> None:
    """``transcribe`` and ``models download-vosk``."""
    from pathlib import Path

    from speech.asr import ENGINES, VN_MODEL_NAME, VN_MODEL_URL

    p = sub.add_parser("transcribe", help="print one transcript per WAV file (any rate)")
    p.add_argument("files", nargs="+", type=Path, metavar="FILE.wav")
    p.add_argument("--engine", choices=ENGINES, help="default: the speech.recognizer setting")
    p.add_argument("--model-dir", type=Path, help="vosk model directory")
    p.set_defaults(func=_transcribe)
    models = sub.add_parser("models", help="speech recognition models")
    msub = models.add_subparsers(dest="models_command", required=True)
    d = msub.add_parser("download-vosk", help=f"download and unpack {VN_MODEL_NAME}")
    d.add_argument("--dest", type=Path, default=Path("var/models"), help="where to unpack")
    d.add_argument("--url", default=VN_MODEL_URL)
    d.set_defaults(func=_download_vosk)


def _transcribe(args: argparse.Namespace) -> int:
    import asyncio
    import sys

    from config.settings import load_settings
    from speech.asr import RecognizerError, create_recognizer

    updates: dict[str, Any] = {}
    if args.engine:
        updates["recognizer"] = args.engine
    if args.model_dir:
        updates["vosk_model_dir"] = args.model_dir
    settings = load_settings().speech.model_copy(update=updates)
    try:
        recognizer = create_recognizer(settings)
        try:
            return asyncio.run(_transcribe_files(recognizer, args.files))
        finally:
            recognizer.close()
    except RecognizerError as exc:
        print(f"tongdai transcribe: {exc.code}: {exc}", file=sys.stderr)
        return 2


async def _transcribe_files(recognizer: Any, files: list[Any]) -> int:
    """One line per file, in order; an unreadable file prints an empty line and an error."""
    import sys

    from speech.audio import AudioFormatError, read_wav

    failed = 0
    for path in files:
        try:
            pcm, rate = read_wav(path)  # at the file's rate: the session resamples
        except (AudioFormatError, OSError) as exc:
            print(flush=True)
            print(f"tongdai transcribe: {path}: {exc}", file=sys.stderr)
            failed += 1
            continue
        session = recognizer.open_session()
        try:
            await session.feed(pcm, rate)
            result = await session.finish()
        finally:
            session.close()
        print(result.text, flush=True)
    return 1 if failed else 0


def _download_vosk(args: argparse.Namespace) -> int:
    import sys

    from speech.vosk_engine import ModelDownloadError, download_model

    try:
        model_dir = download_model(args.dest, url=args.url)
    except ModelDownloadError as exc:
        print(f"tongdai models download-vosk: {exc}", file=sys.stderr)
        return 1
    print(f"vosk model ready in {model_dir}; set TONGDAI_SPEECH__VOSK_MODEL_DIR={model_dir}")
    return 0


def _register_say(sub: Any) -> None:
    """``say``: render text as the caller would hear it."""
    from pathlib import Path

    from speech.settings import SYNTHESIZER_NAMES

    p = sub.add_parser("say", help="render text to a WAV file as a caller would hear it")
    p.add_argument("text", help="Vietnamese text; numbers, dates, codes are read out")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="OUT.wav")
    p.add_argument("--engine", choices=SYNTHESIZER_NAMES, help="default: speech.synthesizer")
    p.add_argument("--rate", type=int, default=8000, help="sample rate in Hz (default 8000)")
    p.add_argument("--no-cache", action="store_true", help="do not read or fill the prompt cache")
    p.add_argument(
        "--codec", choices=("pcmu", "pcma"), help="pass through G.711 as on the line (8000 Hz)"
    )
    p.set_defaults(func=_say)


def _say(args: argparse.Namespace) -> int:
    import asyncio
    import sys
    import tempfile
    from pathlib import Path

    from config.settings import load_settings
    from speech.audio import write_wav
    from speech.prompt_cache import PromptCache, split_fragments
    from speech.tts import SynthesisError, build_synthesizer

    if not 4000 <= args.rate <= 48000:
        print(f"tongdai say: --rate must be 4000-48000 Hz, got {args.rate}", file=sys.stderr)
        return 2
    if args.codec and args.rate != 8000:
        print("tongdai say: --codec needs --rate 8000 (G.711 is 8 kHz)", file=sys.stderr)
        return 2
    speech = load_settings().speech
    synthesizer = build_synthesizer(speech, engine=args.engine, output_rate=args.rate)

    async def render(cache_dir: Any) -> Any:
        cache = PromptCache(synthesizer, cache_dir, rate=args.rate)
        chunks = [audio.pcm async for audio in cache.say(args.text)]
        return cache, b"".join(chunks)

    try:
        if args.no_cache:
            with tempfile.TemporaryDirectory(prefix="tongdai-say-") as tmp:
                cache, pcm = asyncio.run(render(Path(tmp)))
        else:
            cache, pcm = asyncio.run(render(speech.prompt_cache_dir))
        if args.codec:
            from core import g711

            encode, decode = {
                "pcmu": (g711.ulaw_encode, g711.ulaw_decode),
                "pcma": (g711.alaw_encode, g711.alaw_decode),
            }[args.codec]
            pcm = decode(encode(pcm))
        write_wav(args.output, pcm, args.rate)
    except SynthesisError as exc:
        print(f"tongdai say: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"tongdai say: cannot write {args.output}: {exc}", file=sys.stderr)
        return 1
    voices = [cache.cached_voice(part) for part in split_fragments(args.text)]
    engines = ", ".join(sorted({v.engine for v in voices if v is not None}))
    print(f"spoken: {cache.spoken(args.text)}", file=sys.stderr)
    print(f"{args.output}: {len(pcm) / 2 / args.rate:.2f} s at {args.rate} Hz ({engines})")
    return 0
