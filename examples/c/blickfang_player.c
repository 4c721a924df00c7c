/*
 * blickfang-player: a minimal signage player in C embedding blickfang's
 * audience analytics, the C twin of examples/signage_player.py.
 *
 *   <input> ! videoconvert ! blickfang-facedetect ! blickfang-gazedwell ! fakesink
 *
 * It shows a playlist in turn (here: only says which item is on screen),
 * tells gazedwell what is on screen with the `blickfang-content` custom
 * downstream event, and prints gazedwell's per-content audience reports from
 * the bus as JSON lines on stdout, field names with '-' turned into '_':
 *
 *   {"type": "content-report", "content_id": "coffee", "start": 2.0, "ots": 2, ...}
 *
 * No video leaves the pipeline. Everything meant for a human goes to stderr.
 *
 * Switches happen on the video's own clock (a pad probe on gazedwell's sink
 * pad), so a file gives the same switches every run and a camera switches in
 * real time. Ctrl-C (SIGINT) or SIGTERM ends the stream with EOS, so the last
 * report is still printed.
 *
 * Build:   make -C examples/c        (cc ... $(pkg-config --cflags --libs gstreamer-1.0))
 * Run:     GST_PLUGIN_PATH=$PWD/target/release examples/c/blickfang-player \
 *              --input clip.mp4 --playlist spring-sale:20,coffee:15 [--min-group-size 5]
 *          --input takes a file, a URI (rtsp://, file://) or /dev/videoN.
 *
 * Exit status: 0 at the end of the stream, 1 on a pipeline error (the message
 * names the element and why), 2 on bad arguments or a missing plugin.
 */
#include <errno.h>
#include <glib-unix.h>
#include <gst/gst.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROG "blickfang-player"
/* The names of plugins/src/meta.rs: the one metadata contract. */
#define CONTENT_EVENT "blickfang-content"
#define CONTENT_REPORT "blickfang-content-report"

typedef struct {
  char *content_id;
  GstClockTime duration;
} Item;

typedef struct {
  Item *items;
  guint n_items;
  guint index;
  GstClockTime next_switch; /* running time of the next switch; NONE before the first frame */
  GstElement *pipeline;
  GstElement *gaze;
  GMainLoop *loop;
  gboolean interrupted;
  int exit_status;
} Player;

/* --- the playlist: "id:seconds,id:seconds" ----------------------------------- */

static gboolean parse_playlist(const char *arg, Player *p) {
  gchar **parts = g_strsplit(arg, ",", -1);
  GArray *items = g_array_new(FALSE, FALSE, sizeof(Item));
  gboolean ok = TRUE;
  for (gchar **part = parts; *part && ok; part++) {
    gchar *s = g_strstrip(*part);
    if (*s == '\0')
      continue;
    gchar *colon = strrchr(s, ':');
    char *end = NULL;
    double seconds = colon ? g_ascii_strtod(colon + 1, &end) : NAN;
    if (!colon || colon == s || end == colon + 1 || *end != '\0' || !(seconds > 0)) {
      fprintf(stderr, "%s: playlist item \"%s\": expected id:seconds with seconds > 0\n", PROG, s);
      ok = FALSE;
      break;
    }
    Item it = {g_strndup(s, colon - s), (GstClockTime)llround(seconds * GST_SECOND)};
    g_array_append_val(items, it);
  }
  g_strfreev(parts);
  if (ok && items->len == 0) {
    fprintf(stderr, "%s: the playlist is empty\n", PROG);
    ok = FALSE;
  }
  p->n_items = items->len;
  p->items = (Item *)g_array_free(items, FALSE);
  return ok;
}

/* --- GstStructure -> JSON ------------------------------------------------------ */

static void json_string(GString *out, const char *s) {
  g_string_append_c(out, '"');
  for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
    if (*c == '"' || *c == '\\')
      g_string_append_printf(out, "\\%c", *c);
    else if (*c < 0x20)
      g_string_append_printf(out, "\\u%04x", *c);
    else
      g_string_append_c(out, *c);
  }
  g_string_append_c(out, '"');
}

static void json_structure(GString *out, const GstStructure *s);

static void json_double(GString *out, double v) {
  if (!isfinite(v)) { /* JSON has no NaN: null, as metajson writes it */
    g_string_append(out, "null");
    return;
  }
  char buf[G_ASCII_DTOSTR_BUF_SIZE];
  g_ascii_dtostr(buf, sizeof buf, v); /* shortest text that reads back as the same double */
  g_string_append(out, buf);
  if (!strpbrk(buf, ".eE")) /* stays a number with a fraction: 2.0, not 2 */
    g_string_append(out, ".0");
}

/* Appends `v` and returns TRUE, or FALSE (nothing appended) for a type JSON cannot hold. */
static gboolean json_value(GString *out, const GValue *v) {
  GType t = G_VALUE_TYPE(v);
  if (t == G_TYPE_STRING) {
    const char *s = g_value_get_string(v);
    if (s)
      json_string(out, s);
    else
      g_string_append(out, "null");
  } else if (t == G_TYPE_BOOLEAN) {
    g_string_append(out, g_value_get_boolean(v) ? "true" : "false");
  } else if (t == G_TYPE_INT) {
    g_string_append_printf(out, "%d", g_value_get_int(v));
  } else if (t == G_TYPE_UINT) {
    g_string_append_printf(out, "%u", g_value_get_uint(v));
  } else if (t == G_TYPE_INT64) {
    g_string_append_printf(out, "%" G_GINT64_FORMAT, g_value_get_int64(v));
  } else if (t == G_TYPE_UINT64) {
    g_string_append_printf(out, "%" G_GUINT64_FORMAT, g_value_get_uint64(v));
  } else if (t == G_TYPE_DOUBLE) {
    json_double(out, g_value_get_double(v));
  } else if (t == G_TYPE_FLOAT) {
    json_double(out, g_value_get_float(v));
  } else if (t == GST_TYPE_STRUCTURE) {
    json_structure(out, gst_value_get_structure(v));
  } else if (t == GST_TYPE_ARRAY || t == GST_TYPE_LIST) {
    gboolean array = t == GST_TYPE_ARRAY;
    guint n = array ? gst_value_array_get_size(v) : gst_value_list_get_size(v);
    g_string_append_c(out, '[');
    gboolean first = TRUE;
    for (guint i = 0; i < n; i++) {
      if (!first)
        g_string_append(out, ", ");
      gsize len = out->len;
      if (json_value(out, array ? gst_value_array_get_value(v, i) : gst_value_list_get_value(v, i)))
        first = FALSE;
      else if (!first)
        g_string_truncate(out, len - 2);
    }
    g_string_append_c(out, ']');
  } else {
    return FALSE;
  }
  return TRUE;
}

/* The fields of `s` as a JSON object, names snake_case; fields JSON cannot hold are left out. */
static void json_fields(GString *out, const GstStructure *s, gboolean first) {
  for (gint i = 0; i < gst_structure_n_fields(s); i++) {
    const char *name = gst_structure_nth_field_name(s, i);
    gsize len = out->len;
    if (!first)
      g_string_append(out, ", ");
    gchar *snake = g_strdelimit(g_strdup(name), "-", '_');
    json_string(out, snake);
    g_free(snake);
    g_string_append(out, ": ");
    if (json_value(out, gst_structure_get_value(s, name)))
      first = FALSE;
    else
      g_string_truncate(out, len);
  }
}

static void json_structure(GString *out, const GstStructure *s) {
  g_string_append_c(out, '{');
  json_fields(out, s, TRUE);
  g_string_append_c(out, '}');
}

static void print_record(const char *type, const GstStructure *s) {
  GString *out = g_string_new("{\"type\": ");
  json_string(out, type);
  json_fields(out, s, FALSE);
  g_string_append(out, "}\n");
  fputs(out->str, stdout);
  fflush(stdout);
  g_string_free(out, TRUE);
}

/* --- the player ------------------------------------------------------------------ */

/* Streaming thread: runs for every frame before gazedwell sees it. */
static GstPadProbeReturn on_frame(GstPad *pad, GstPadProbeInfo *info, gpointer data) {
  Player *p = data;
  GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER(info);
  GstEvent *seg_event = gst_pad_get_sticky_event(pad, GST_EVENT_SEGMENT, 0);
  if (!buf || !seg_event || !GST_BUFFER_PTS_IS_VALID(buf)) {
    if (seg_event)
      gst_event_unref(seg_event);
    return GST_PAD_PROBE_OK;
  }
  const GstSegment *segment;
  gst_event_parse_segment(seg_event, &segment);
  GstClockTime now = gst_segment_to_running_time(segment, GST_FORMAT_TIME, GST_BUFFER_PTS(buf));
  gst_event_unref(seg_event);
  if (!GST_CLOCK_TIME_IS_VALID(now)) /* outside the segment: gazedwell ignores it too */
    return GST_PAD_PROBE_OK;
  if (!GST_CLOCK_TIME_IS_VALID(p->next_switch)) {
    p->next_switch = now + p->items[0].duration;
    fprintf(stderr, "%s: [%9.3f s] on screen: %s\n", PROG, (double)now / GST_SECOND, p->items[0].content_id);
    return GST_PAD_PROBE_OK;
  }
  if (now < p->next_switch)
    return GST_PAD_PROBE_OK;
  /* The schedule is nominal: the item due is the one whose slot holds this
   * frame; items shorter than the gap between two frames are skipped. */
  do {
    p->index = (p->index + 1) % p->n_items;
    p->next_switch += p->items[p->index].duration;
  } while (now >= p->next_switch);
  const char *content_id = p->items[p->index].content_id;
  /* The event any player can send without holding the element: downstream,
   * in order with the frames. Sent to gazedwell's sink pad from this probe,
   * it is handled before the frame the probe holds. */
  GstStructure *s = gst_structure_new(CONTENT_EVENT, "content-id", G_TYPE_STRING, content_id, NULL);
  gst_pad_send_event(pad, gst_event_new_custom(GST_EVENT_CUSTOM_DOWNSTREAM, s));
  fprintf(stderr, "%s: [%9.3f s] on screen: %s\n", PROG, (double)now / GST_SECOND, content_id);
  return GST_PAD_PROBE_OK;
}

/* Main thread. */
static gboolean on_message(GstBus *bus, GstMessage *msg, gpointer data) {
  (void)bus;
  Player *p = data;
  switch (GST_MESSAGE_TYPE(msg)) {
  case GST_MESSAGE_EOS:
    g_main_loop_quit(p->loop);
    break;
  case GST_MESSAGE_ERROR:
  case GST_MESSAGE_WARNING: {
    GError *err = NULL;
    gchar *debug = NULL;
    gboolean error = GST_MESSAGE_TYPE(msg) == GST_MESSAGE_ERROR;
    if (error)
      gst_message_parse_error(msg, &err, &debug);
    else
      gst_message_parse_warning(msg, &err, &debug);
    fprintf(stderr, "%s: %s from %s: %s\n", PROG, error ? "error" : "warning",
            msg->src ? GST_OBJECT_NAME(msg->src) : "the pipeline", err->message);
    if (debug)
      fprintf(stderr, "  (%s)\n", debug);
    g_clear_error(&err);
    g_free(debug);
    if (error) {
      p->exit_status = 1;
      g_main_loop_quit(p->loop);
    }
    break;
  }
  case GST_MESSAGE_ELEMENT: {
    const GstStructure *s = gst_message_get_structure(msg);
    if (s && GST_MESSAGE_SRC(msg) == GST_OBJECT(p->gaze) && gst_structure_has_name(s, CONTENT_REPORT))
      print_record("content-report", s);
    break;
  }
  default:
    break;
  }
  return G_SOURCE_CONTINUE;
}

static gboolean on_signal(gpointer data) {
  Player *p = data;
  if (p->interrupted) {
    fprintf(stderr, "%s: interrupted twice: stopping without the last report\n", PROG);
    p->exit_status = 130;
    g_main_loop_quit(p->loop);
    return G_SOURCE_REMOVE;
  }
  p->interrupted = TRUE;
  fprintf(stderr, "%s: interrupted: ending the stream (the last report follows)\n", PROG);
  gst_element_send_event(p->pipeline, gst_event_new_eos());
  return G_SOURCE_CONTINUE;
}

static int usage(const char *why) {
  if (why)
    fprintf(stderr, "%s: %s\n", PROG, why);
  fprintf(stderr,
          "usage: %s --input FILE|URI|/dev/videoN --playlist id:seconds[,id:seconds...] [--min-group-size K]\n",
          PROG);
  return 2;
}

int main(int argc, char **argv) {
  const char *input = NULL, *playlist = NULL;
  long k = 5;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (i + 1 >= argc && (!strcmp(a, "--input") || !strcmp(a, "--playlist") || !strcmp(a, "--min-group-size")))
      return usage("an option lacks its value");
    if (!strcmp(a, "--input"))
      input = argv[++i];
    else if (!strcmp(a, "--playlist"))
      playlist = argv[++i];
    else if (!strcmp(a, "--min-group-size")) {
      char *end;
      errno = 0;
      k = strtol(argv[++i], &end, 10);
      if (errno || *end || k < 1 || k > G_MAXINT)
        return usage("--min-group-size must be a whole number >= 1");
    } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(NULL);
      return 0;
    } else
      return usage("unknown argument");
  }
  if (!input || !playlist)
    return usage("--input and --playlist are required");

  gst_init(&argc, &argv);
  Player p = {.next_switch = GST_CLOCK_TIME_NONE};
  if (!parse_playlist(playlist, &p))
    return 2;
  const char *needed[] = {"blickfang-facedetect", "blickfang-gazedwell"};
  for (size_t i = 0; i < G_N_ELEMENTS(needed); i++) {
    GstElementFactory *f = gst_element_factory_find(needed[i]);
    if (!f) {
      fprintf(stderr,
              "%s: element %s not found: install blickfang, or set GST_PLUGIN_PATH to the folder holding "
              "libgstblickfang.so (target/release)\n",
              PROG, needed[i]);
      return 2;
    }
    gst_object_unref(f);
  }

  /* The input: a camera device, a URI, or a file made a URI. */
  gchar *head;
  if (g_str_has_prefix(input, "/dev/video")) {
    head = g_strdup_printf("v4l2src device=\"%s\" ! decodebin", input);
  } else {
    gchar *uri = NULL;
    if (gst_uri_is_valid(input)) {
      uri = g_strdup(input);
    } else {
      GError *err = NULL;
      if (!g_file_test(input, G_FILE_TEST_EXISTS) || !(uri = gst_filename_to_uri(input, &err))) {
        fprintf(stderr, "%s: --input %s: no such file (give a file, a URI or /dev/videoN)\n", PROG, input);
        g_clear_error(&err);
        return 2;
      }
    }
    head = g_strdup_printf("uridecodebin uri=\"%s\"", uri);
    g_free(uri);
  }
  gchar *desc = g_strdup_printf("%s ! videoconvert ! blickfang-facedetect ! blickfang-gazedwell name=gaze "
                                "min-group-size=%ld content-id=\"%s\" ! fakesink sync=false",
                                head, k, p.items[0].content_id);
  GError *err = NULL;
  p.pipeline = gst_parse_launch(desc, &err);
  g_free(head);
  g_free(desc);
  if (!p.pipeline || err) {
    fprintf(stderr, "%s: cannot build the pipeline: %s\n", PROG, err ? err->message : "unknown reason");
    g_clear_error(&err);
    return 2;
  }
  p.gaze = gst_bin_get_by_name(GST_BIN(p.pipeline), "gaze");
  GstPad *sink = gst_element_get_static_pad(p.gaze, "sink");
  gst_pad_add_probe(sink, GST_PAD_PROBE_TYPE_BUFFER, on_frame, &p, NULL);
  gst_object_unref(sink);

  p.loop = g_main_loop_new(NULL, FALSE);
  GstBus *bus = gst_element_get_bus(p.pipeline);
  gst_bus_add_watch(bus, on_message, &p);
  g_unix_signal_add(SIGINT, on_signal, &p);
  g_unix_signal_add(SIGTERM, on_signal, &p);

  if (gst_element_set_state(p.pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE)
    p.exit_status = 1; /* the reason is on the bus as an error: the loop prints it */
  g_main_loop_run(p.loop);

  gst_element_set_state(p.pipeline, GST_STATE_NULL);
  gst_bus_remove_watch(bus);
  gst_object_unref(bus);
  gst_object_unref(p.gaze);
  gst_object_unref(p.pipeline);
  g_main_loop_unref(p.loop);
  for (guint i = 0; i < p.n_items; i++)
    g_free(p.items[i].content_id);
  g_free(p.items);
  return p.exit_status;
}
