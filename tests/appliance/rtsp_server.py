#!/usr/bin/env python3
"""A test RTSP server: serves a clip at rtsp://127.0.0.1:PORT/cam, looping
forever in real time, as a network camera would (for tests/edge.rs).

    rtsp_server.py PORT CLIP

The clip is decoded and JPEG-encoded once at start (so the server costs
little CPU while it serves); frames go out as RTP/JPEG at the clip's frame
rate, timestamps continuing across loops. Prints "ready" when it listens.
Needs python3-gi, gir1.2-gstreamer-1.0 and gir1.2-gst-rtsp-server-1.0.
"""

import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def encode(clip):
    """[(jpeg bytes)], caps, frame duration (ns) of `clip`."""
    p = Gst.parse_launch(
        f'filesrc location="{clip}" ! decodebin ! videoconvert ! video/x-raw,format=I420 ! jpegenc quality=90 '
        "! appsink name=sink sync=false"
    )
    sink = p.get_by_name("sink")
    p.set_state(Gst.State.PLAYING)
    frames, caps = [], None
    while True:
        sample = sink.emit("pull-sample")
        if sample is None:
            break
        caps = sample.get_caps()
        buf = sample.get_buffer()
        frames.append(buf.extract_dup(0, buf.get_size()))
    p.set_state(Gst.State.NULL)
    s = caps.get_structure(0)
    ok, num, den = s.get_fraction("framerate")
    if not ok or num == 0:
        num, den = 12, 1
    return frames, caps, Gst.SECOND * den // num


class Factory(GstRtspServer.RTSPMediaFactory):
    def __init__(self, frames, caps, duration):
        super().__init__()
        self.frames, self.caps, self.duration = frames, caps, duration
        self.set_shared(True)

    def do_create_element(self, url):
        # identity sync=true paces the frames in real time on the media's clock.
        return Gst.parse_launch(
            "appsrc name=src format=time is-live=true ! identity sync=true ! rtpjpegpay name=pay0 pt=26"
        )

    def do_configure(self, media):
        src = media.get_element().get_child_by_name("src")
        src.set_property("caps", self.caps)
        state = {"n": 0}

        def need_data(appsrc, _length):
            n = state["n"]
            buf = Gst.Buffer.new_wrapped(self.frames[n % len(self.frames)])
            buf.pts = n * self.duration
            buf.duration = self.duration
            state["n"] = n + 1
            appsrc.emit("push-buffer", buf)

        src.connect("need-data", need_data)


def main():
    port, clip = sys.argv[1], sys.argv[2]
    Gst.init(None)
    frames, caps, duration = encode(clip)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(port)
    server.get_mount_points().add_factory("/cam", Factory(frames, caps, duration))
    if server.attach(None) == 0:
        sys.exit(f"rtsp_server: cannot listen on 127.0.0.1:{port}")
    print("ready", flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main()
