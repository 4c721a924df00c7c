#!/usr/bin/env python3
"""A minimal digital-signage player wired to blickfang's audience analytics.

It shows a playlist of content items in turn and tells `gazedwell` what is on
screen, while a camera (or, for a demo or test, a video file) runs through

    <camera> ! videoconvert ! blickfang-facedetect ! blickfang-gazedwell ! fakesink

No video leaves the pipeline. At every content switch, and at the end, gazedwell
closes the previous item's audience report; this player prints each one as a
JSON line on stdout:

    {"type": "content-report", "content_id": "coffee", "start": 2.0, "end": 3.5, "ots": 2, ...}

Field names are gazedwell's with `-` turned into `_`, as `blickfang-metajson`
writes them. With --verbose, people leaving are printed too
({"type": "person-event", "event": "left", ...}). What is on screen, and
everything else meant for a human, goes to stderr.

The player is honest about what it is: it shows *how to integrate*. A real
player would render each item where this one only says which item is on screen.

Switches happen on the video's own clock: a pad probe on gazedwell's sink pad
looks at each frame's running time and switches the first frame at or after
the item's scheduled end. A file therefore plays as fast as the CPU allows and
the switches still fall on the same frames every run; a camera plays in real
time and the probe switches in real time.

    python3 examples/signage_player.py --playlist "spring-sale:20,coffee:15"
    python3 examples/signage_player.py --camera clip.mp4 --playlist playlist.json --verbose
    python3 examples/signage_player.py --camera /dev/video2 --preview --playlist ...

--playlist is either "id:seconds,id:seconds,..." or a JSON file holding
[{"content_id": "spring-sale", "duration": 20}, ...] (or that list under
"items"). The playlist repeats until the video ends (a camera: Ctrl-C, which
ends the stream cleanly so that the last report is still printed).

Exit status: 0 at the end of the stream, 1 on a pipeline error (the message
says which element and why), 2 on bad arguments or a missing plugin.

Needs PyGObject and GStreamer's introspection data (Debian: python3-gi
gir1.2-gstreamer-1.0 gir1.2-gst-plugins-base-1.0; use the system python3) and
the blickfang plugin: after `make build`, GST_PLUGIN_PATH=$PWD/target/release.
"""

import argparse
import json
import os
import signal
import sys
import warnings

try:
    import gi

    gi.require_version("GLib", "2.0")
    gi.require_version("Gst", "1.0")
    from gi.repository import GLib, Gst
except (ImportError, ValueError) as e:
    sys.exit(
        f"signage_player: PyGObject with GStreamer's introspection data is missing for {sys.executable} ({e}).\n"
        "Install python3-gi gir1.2-gstreamer-1.0 gir1.2-gst-plugins-base-1.0 (Debian) and run it with the "
        "system python3 (/usr/bin/python3)."
    )

PROG = "signage_player"
CONTENT_EVENT = "blickfang-content"
CONTENT_REPORT = "blickfang-content-report"
PERSON_EVENT = "blickfang-person-event"
# Posted by our probe on the bus, so that the main thread prints what is on
# screen in order with gazedwell's messages.
SHOWING = "signage-player-showing"


def log(msg):
    print(f"{PROG}: {msg}", file=sys.stderr, flush=True)


# --- the playlist -----------------------------------------------------------


def parse_playlist(arg):
    """[(content_id, seconds)] from "id:s,id:s" or a JSON file."""
    if os.path.isfile(arg):
        try:
            with open(arg, encoding="utf-8") as f:
                doc = json.load(f)
        except (OSError, ValueError) as e:
            raise ValueError(f"cannot read the playlist {arg}: {e}") from e
        entries = doc.get("items") if isinstance(doc, dict) else doc
        if not isinstance(entries, list):
            raise ValueError(f"{arg}: expected a list of {{\"content_id\": ..., \"duration\": seconds}}")
        items = []
        for k, e in enumerate(entries):
            if not isinstance(e, dict) or "content_id" not in e or "duration" not in e:
                raise ValueError(f"{arg}: item {k} needs \"content_id\" and \"duration\" (seconds): {e!r}")
            items.append((str(e["content_id"]), e["duration"]))
    else:
        items = []
        for part in filter(None, (p.strip() for p in arg.split(","))):
            content_id, sep, seconds = part.rpartition(":")
            if not sep:
                raise ValueError(f"playlist item {part!r}: expected id:seconds (or a JSON file that exists)")
            items.append((content_id.strip(), seconds))
    playlist = []
    for content_id, seconds in items:
        try:
            seconds = float(seconds)
        except (TypeError, ValueError):
            raise ValueError(f"playlist item {content_id!r}: duration {seconds!r} is not a number of seconds") from None
        if not content_id:
            raise ValueError("a playlist item has an empty content id")
        if not seconds > 0:
            raise ValueError(f"playlist item {content_id!r}: duration must be > 0 s, got {seconds}")
        playlist.append((content_id, seconds))
    if not playlist:
        raise ValueError("the playlist is empty")
    return playlist


# --- GstStructure -> JSON ---------------------------------------------------


def snake(name):
    return name.replace("-", "_")


def json_value(v):
    if isinstance(v, Gst.Structure):
        return structure_dict(v)
    if isinstance(v, float) and v != v:  # NaN: JSON has none
        return None
    return v


def structure_dict(s):
    """The fields of `s` as a dict, names snake_case, nested structures and arrays included."""
    out = {}
    for i in range(s.n_fields()):
        name = s.nth_field_name(i)
        if s.get_field_type(name) == Gst.ValueArray.__gtype__:
            # PyGObject cannot convert a GstValueArray by itself (no Gst overrides on Debian);
            # gst_structure_get_array copies it into a GValueArray it can.
            ok, arr = s.get_array(name)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                value = [json_value(arr.get_nth(k)) for k in range(arr.n_values)] if ok else None
        else:
            try:
                value = json_value(s.get_value(name))
            except TypeError:  # a type PyGObject cannot convert: left out, as metajson does
                continue
        out[snake(name)] = value
    return out


def print_record(kind, s):
    record = {"type": kind}
    record.update(structure_dict(s))
    print(json.dumps(record), flush=True)


# --- the player -------------------------------------------------------------


def source_description(camera):
    """The launch-line head for --camera, and the URI to set on it (or None)."""
    if camera is None:
        return "v4l2src ! decodebin", None
    if camera.startswith("/dev/video"):
        return f"v4l2src device={camera} ! decodebin", None
    if "://" in camera:
        return "uridecodebin name=source", camera
    if not os.path.exists(camera):
        raise ValueError(f"--camera {camera}: no such file (give a file, a URI or /dev/videoN)")
    return "uridecodebin name=source", Gst.filename_to_uri(os.path.abspath(camera))


class Player:
    def __init__(self, args, playlist):
        self.args = args
        self.playlist = playlist
        self.index = 0
        self.next_switch = None  # running time (ns) at which the next item is due
        self.exit_status = 0
        self.interrupted = False

        head, uri = source_description(args.camera)
        if args.preview:
            # The only way pixels may leave: faces redacted first (blurredact fails closed).
            tail = "blickfang-blurredact ! videoconvert ! autovideosink"
        else:
            tail = "fakesink sync=false"
        desc = (
            f"{head} ! videoconvert ! blickfang-facedetect name=detect "
            f"! blickfang-gazedwell name=gaze ! {tail}"
        )
        self.pipeline = Gst.parse_launch(desc)
        if uri is not None:
            self.pipeline.get_by_name("source").set_property("uri", uri)
        self.gaze = self.pipeline.get_by_name("gaze")
        self.gaze.set_property("min-group-size", args.min_group_size)
        if args.min_dwell is not None:
            self.gaze.set_property("min-dwell", args.min_dwell)
        if args.headpose_model is not None:
            self.gaze.set_property("headpose-model", args.headpose_model)
        # What is on screen when the first frame arrives.
        self.gaze.set_property("content-id", playlist[0][0])

        sink_pad = self.gaze.get_static_pad("sink")
        sink_pad.add_probe(Gst.PadProbeType.BUFFER, self.on_frame)

        self.loop = GLib.MainLoop()
        bus = self.pipeline.get_bus()
        bus.add_signal_watch()
        bus.connect("message", self.on_message)

    # Streaming thread: runs for every frame before gazedwell sees it.
    def on_frame(self, pad, info):
        buf = info.get_buffer()
        segment_event = pad.get_sticky_event(Gst.EventType.SEGMENT, 0)
        if buf is None or segment_event is None or buf.pts == Gst.CLOCK_TIME_NONE:
            return Gst.PadProbeReturn.OK
        now = segment_event.parse_segment().to_running_time(Gst.Format.TIME, buf.pts)
        if now == Gst.CLOCK_TIME_NONE:  # outside the segment: gazedwell ignores it too
            return Gst.PadProbeReturn.OK
        if self.next_switch is None:
            # The first frame: the first item's schedule starts here.
            self.next_switch = now + seconds_ns(self.playlist[0][1])
            self.post_showing(now, skipped=[])
            return Gst.PadProbeReturn.OK
        if now < self.next_switch:
            return Gst.PadProbeReturn.OK
        # The schedule is nominal (no drift): the item due now is the one whose
        # slot contains this frame; items shorter than the gap between two
        # frames were never visible and are skipped.
        skipped = []
        while True:
            self.index = (self.index + 1) % len(self.playlist)
            self.next_switch += seconds_ns(self.playlist[self.index][1])
            if now < self.next_switch:
                break
            skipped.append(self.playlist[self.index][0])
        content_id = self.playlist[self.index][0]
        if self.args.switch_by == "event":
            # The same switch as a custom downstream event, the way a player
            # that is not holding the element would do it (it may be sent to
            # any pad upstream of gazedwell, in order with the stream). On a
            # launch line the structure reads:
            #   Gst.Structure.new_from_string("blickfang-content, content-id=(string)coffee")
            # Sent to gazedwell's sink pad from this probe, it is handled
            # before the frame the probe holds.
            s = Gst.Structure.new_empty(CONTENT_EVENT)
            s.set_value("content-id", content_id)
            pad.send_event(Gst.Event.new_custom(Gst.EventType.CUSTOM_DOWNSTREAM, s))
        else:
            # gazedwell applies it to the next frame it analyses: this one.
            self.gaze.set_property("content-id", content_id)
        self.post_showing(now, skipped)
        return Gst.PadProbeReturn.OK

    def post_showing(self, now, skipped):
        content_id, seconds = self.playlist[self.index]
        s = Gst.Structure.new_empty(SHOWING)
        s.set_value("content-id", content_id)
        s.set_value("running-time", now / Gst.SECOND)
        s.set_value("duration", float(seconds))
        s.set_value("skipped", ",".join(skipped))
        self.gaze.post_message(Gst.Message.new_application(self.gaze, s))

    # Main thread.
    def on_message(self, bus, msg):
        t = msg.type
        if t == Gst.MessageType.EOS:
            self.loop.quit()
        elif t == Gst.MessageType.ERROR:
            err, debug = msg.parse_error()
            log(f"error from {msg.src.get_name() if msg.src else 'the pipeline'}: {err.message}")
            if debug:
                log(f"  ({debug})")
            self.exit_status = 1
            self.loop.quit()
        elif t == Gst.MessageType.WARNING:
            warn, _ = msg.parse_warning()
            log(f"warning from {msg.src.get_name() if msg.src else 'the pipeline'}: {warn.message}")
        elif t == Gst.MessageType.APPLICATION:
            s = msg.get_structure()
            if s is not None and s.get_name() == SHOWING:
                for content_id in filter(None, s.get_string("skipped").split(",")):
                    log(f"skipped {content_id}: shorter than the gap between two frames")
                log(
                    f"[{s.get_value('running-time'):9.3f} s] on screen: {s.get_string('content-id')} "
                    f"({s.get_value('duration'):g} s)"
                )
        elif t == Gst.MessageType.ELEMENT and msg.src == self.gaze:
            s = msg.get_structure()
            if s is None:
                return
            if s.get_name() == CONTENT_REPORT:
                print_record("content-report", s)
            elif s.get_name() == PERSON_EVENT and self.args.verbose and s.get_string("event") == "left":
                print_record("person-event", s)

    def on_sigint(self):
        if self.interrupted:
            log("interrupted twice: stopping without the last report")
            self.exit_status = 130
            self.loop.quit()
            return GLib.SOURCE_REMOVE
        self.interrupted = True
        log("interrupted: ending the stream (the last report follows; Ctrl-C again to stop at once)")
        self.pipeline.send_event(Gst.Event.new_eos())
        return GLib.SOURCE_CONTINUE

    def run(self):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGINT, self.on_sigint)
        if self.pipeline.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
            # The reason is on the bus as an error message: the loop prints it.
            self.exit_status = 1
        self.loop.run()
        self.pipeline.set_state(Gst.State.NULL)
        self.pipeline.get_bus().remove_signal_watch()
        return self.exit_status


def seconds_ns(seconds):
    return int(round(seconds * Gst.SECOND))


def main():
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Shows a playlist in turn, tells blickfang-gazedwell what is on screen and prints "
        "its per-content audience reports as JSON lines.",
    )
    parser.add_argument("--camera", help="a file, URI or /dev/videoN (default: v4l2src's default camera)")
    parser.add_argument(
        "--playlist",
        required=True,
        help='"id:seconds,id:seconds,..." or a JSON file [{"content_id": ..., "duration": seconds}, ...]',
    )
    parser.add_argument(
        "--min-group-size",
        type=int,
        default=5,
        help="gazedwell's k: report cells counting fewer people are suppressed (default 5)",
    )
    parser.add_argument("--min-dwell", type=float, help="gazedwell's min-dwell (seconds; default: gazedwell's)")
    parser.add_argument(
        "--headpose-model", help='gazedwell\'s headpose-model ("" = head pose from landmarks; default: gazedwell\'s)'
    )
    parser.add_argument(
        "--switch-by",
        choices=["property", "event"],
        default="property",
        help="tell gazedwell by its content-id property (default) or by a blickfang-content custom event",
    )
    parser.add_argument("--preview", action="store_true", help="show the redacted video in a window (needs a display)")
    parser.add_argument("--verbose", action="store_true", help="also print people leaving as JSON lines")
    args = parser.parse_args()
    if args.min_group_size < 1:
        parser.error("--min-group-size must be at least 1")

    Gst.init(None)
    try:
        playlist = parse_playlist(args.playlist)
    except ValueError as e:
        parser.error(str(e))
    for name in ["blickfang-facedetect", "blickfang-gazedwell"] + (["blickfang-blurredact"] if args.preview else []):
        if Gst.ElementFactory.find(name) is None:
            log(
                f"element {name} not found: build blickfang (`make build`) and set "
                "GST_PLUGIN_PATH to the folder holding libgstblickfang.so (target/release)"
            )
            return 2
    try:
        player = Player(args, playlist)
    except ValueError as e:
        parser.error(str(e))
    except GLib.Error as e:
        log(f"cannot build the pipeline: {e.message}")
        return 2
    log("playlist: " + ", ".join(f"{c} ({s:g} s)" for c, s in playlist))
    return player.run()


if __name__ == "__main__":
    sys.exit(main())
