"""The ``tongdai`` console command. Each package registers its own subcommands."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

import integrations.commands
import ivr.calllog.commands
import ivr.commands
import menus.commands
import speech.commands
import web.commands


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tongdai", description="Automated telephone hotline for public services"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in (
        ivr.commands,
        menus.commands,
        speech.commands,
        ivr.calllog.commands,
        web.commands,
    ):
        module.register(sub)
    # `db init --sample` publishes the default menu tree: composed here so that the data
    # package never imports the menus package.
    integrations.commands.register(sub, after_sample=menus.commands.publish_default_tree)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(processName)s %(name)s: %(message)s",
    )
    result = args.func(args)
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
