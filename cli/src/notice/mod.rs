//! `blickfang privacy-notice`: the plain-language notice for the shop window
//! and the website (GDPR Art. 13), generated from the edge configuration that
//! runs — what is measured follows the elements the edge runs (age group and
//! gender only with `demographics`), the broker follows `[mqtt]`, and k,
//! retention, controller, contact and legal basis come from `[notice]` — the
//! section the collector (retention) and the report (k) read too
//! ([`blickfang_fleet::notice`]).

use blickfang_fleet::notice::{Notice, Required};

use crate::edge::config::Config;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    En,
    De,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Txt,
    Html,
}

/// One section: a heading and its paragraphs (a paragraph starting with "- " is a list item).
struct Section {
    heading: &'static str,
    body: Vec<String>,
}

/// English or German, chosen once.
fn t(lang: Lang, en: &str, de: &str) -> String {
    match lang {
        Lang::En => en.to_string(),
        Lang::De => de.to_string(),
    }
}

fn sections(c: &Config, n: &Notice, r: Required<'_>, lang: Lang) -> (String, Vec<Section>) {
    let de = lang == Lang::De;
    let title = t(lang, "Audience measurement at this screen", "Reichweitenmessung an diesem Bildschirm");
    let cameras = c.inputs.len();
    let mut s = Vec::new();

    let mut who = vec![r.controller.to_string(), format!("{}: {}", t(lang, "Contact", "Kontakt"), r.contact)];
    if let Some(dpo) = &n.dpo {
        who.push(format!("{}: {dpo}", t(lang, "Data protection officer", "Datenschutzbeauftragte(r)")));
    }
    s.push(Section { heading: if de { "Verantwortlich" } else { "Who is responsible" }, body: who });

    let purpose = n.purpose.clone().unwrap_or_else(|| {
        t(
            lang,
            "To learn how many people notice what this screen shows, and for how long, so that the content can be \
             improved.",
            "Um zu erfahren, wie viele Menschen wahrnehmen, was dieser Bildschirm zeigt, und wie lange, damit die \
             Inhalte verbessert werden können.",
        )
    });
    s.push(Section { heading: if de { "Zweck" } else { "Purpose" }, body: vec![purpose] });

    let mut measured = vec![if de {
        format!(
            "{} an diesem Bildschirm {} von einem Gerät vor Ort ausgewertet, während der Bildschirm läuft. \
             Für jede Person im Bild wird gemessen:",
            if cameras == 1 { "Das Bild einer Kamera" } else { "Die Bilder der Kameras" },
            if cameras == 1 { "wird" } else { "werden" }
        )
    } else {
        format!(
            "The picture of {} at this screen is analysed by a device on site while the screen runs. \
             For each person in view it measures:",
            if cameras == 1 { "a camera".to_string() } else { format!("{cameras} cameras") }
        )
    }];
    measured.push(t(lang, "- that a person is present (presence),", "- dass eine Person anwesend ist (Anwesenheit),"));
    measured.push(t(
        lang,
        "- whether they look at the screen (looking),",
        "- ob sie auf den Bildschirm schaut (Blick),",
    ));
    measured.push(t(
        lang,
        "- how long they stay and look, and which content was on screen meanwhile (dwell time),",
        "- wie lange sie verweilt und hinschaut und welcher Inhalt dabei lief (Verweildauer),",
    ));
    if c.demographics {
        measured.push(t(
            lang,
            "- an estimated age group and gender, guessed from appearance by a model; nobody is identified.",
            "- eine geschätzte Altersgruppe und ein geschätztes Geschlecht, von einem Modell nach dem Aussehen \
             geschätzt; niemand wird identifiziert.",
        ));
    } else {
        measured.push(t(lang, "Age and gender are not estimated.", "Alter und Geschlecht werden nicht geschätzt."));
    }
    s.push(Section { heading: if de { "Was gemessen wird" } else { "What is measured" }, body: measured });

    let mut never = vec![
        t(
            lang,
            "- No image or video is stored or sent: each picture is analysed in the device's memory and discarded.",
            "- Kein Bild und kein Video wird gespeichert oder übertragen: jedes Bild wird im Arbeitsspeicher des \
             Geräts ausgewertet und verworfen.",
        ),
        t(
            lang,
            "- No one is identified or recognised: no names, no face templates, no biometric identifiers; a person \
             who comes back is counted as someone new.",
            "- Niemand wird identifiziert oder wiedererkannt: keine Namen, keine Gesichtsmerkmale, keine \
             biometrischen Kennungen; wer wiederkommt, wird als neue Person gezählt.",
        ),
    ];
    if c.preview {
        never.push(t(
            lang,
            "- A preview with every face blurred is shown on the device's own display for setting up the camera; it \
             is neither stored nor sent.",
            "- Eine Vorschau mit unkenntlich gemachten Gesichtern wird nur auf dem Gerät selbst angezeigt, um die \
             Kamera einzurichten; sie wird weder gespeichert noch übertragen.",
        ));
    }
    s.push(Section { heading: if de { "Was nie gespeichert wird" } else { "What is never stored" }, body: never });

    let k = c.min_group_size();
    let recipient = n
        .recipient
        .clone()
        .unwrap_or_else(|| t(lang, "the operator's audience database", "die Reichweiten-Datenbank des Betreibers"));
    // What the records hold (schema/blickfang-records.schema.json), said plainly: measurements, no pixels.
    let (estimate_en, estimate_de) = if c.demographics {
        (", the estimated age group and gender", ", die geschätzte Altersgruppe und das geschätzte Geschlecht")
    } else {
        ("", "")
    };
    let records = vec![
        if de {
            format!(
                "Nur Messwerte verlassen das Gerät, nie Bilder: je ausgewertetem Bild die Lage jedes Gesichts (ein \
                 Rechteck und fünf Punkte: Augen, Nase, Mundwinkel), die Kopfrichtung, ob die Person hinschaut{estimate_de}; \
                 je Person und Inhalt, wie lange sie verweilte und hinschaute. Sie gehen an den Nachrichtenserver \
                 {}:{} und von dort in {recipient}.",
                c.mqtt.host, c.mqtt.port
            )
        } else {
            format!(
                "Only measurements leave the device, never images: for each analysed picture the position of each \
                 face (a box and five points: eyes, nose, mouth corners), the direction of the head, whether the \
                 person looks{estimate_en}; per person and content item, how long they stayed and looked. They go \
                 to the message broker {}:{} and from there to {recipient}.",
                c.mqtt.host, c.mqtt.port
            )
        },
        if de {
            format!(
                "Berichte je Inhalt nennen Zahlen nur für Gruppen von mindestens {k} Personen; kleinere Gruppen \
                 werden unterdrückt (k = {k})."
            )
        } else {
            format!(
                "Reports per content item give numbers only for groups of at least {k} people; smaller groups are \
                 suppressed (k = {k})."
            )
        },
    ];
    s.push(Section { heading: if de { "Wohin die Daten gehen" } else { "Where the records go" }, body: records });

    let days = r.retain_days;
    s.push(Section {
        heading: if de { "Speicherdauer" } else { "How long they are kept" },
        body: vec![if de {
            format!("Die Datensätze werden {days} Tage aufbewahrt und dann gelöscht.")
        } else {
            format!("The records are kept for {days} days, then deleted.")
        }],
    });

    s.push(Section {
        heading: if de { "Rechtsgrundlage" } else { "Legal basis" },
        body: vec![r.legal_basis.to_string()],
    });

    let mut rights = vec![t(
        lang,
        "You have the right of access, rectification, erasure, restriction of processing and to object (GDPR \
         Art. 15-18 and 21). Because no one is identified, we usually cannot link any record to you (Art. 11); \
         please write to the contact above all the same.",
        "Sie haben das Recht auf Auskunft, Berichtigung, Löschung, Einschränkung der Verarbeitung und Widerspruch \
         (DSGVO Art. 15-18 und 21). Da niemand identifiziert wird, können wir Datensätze in der Regel nicht Ihnen \
         zuordnen (Art. 11); schreiben Sie trotzdem gern an den Kontakt oben.",
    )];
    rights.push(match &n.authority {
        Some(a) => {
            if de {
                format!("Sie können sich bei einer Datenschutz-Aufsichtsbehörde beschweren (Art. 77), etwa: {a}.")
            } else {
                format!("You may complain to a data protection supervisory authority (Art. 77), e.g. {a}.")
            }
        }
        None => t(
            lang,
            "You may complain to a data protection supervisory authority (Art. 77).",
            "Sie können sich bei einer Datenschutz-Aufsichtsbehörde beschweren (Art. 77).",
        ),
    });
    s.push(Section { heading: if de { "Ihre Rechte" } else { "Your rights" }, body: rights });
    (title, s)
}

/// The notice for `config`, which must have a `[notice]` section.
pub fn render(c: &Config, format: Format, lang: Lang) -> Result<String, String> {
    let n = c
        .notice
        .as_ref()
        .ok_or("no [notice] section: it needs controller, contact, legal_basis and retain_days (GDPR Art. 13)")?;
    let (title, sections) = sections(c, n, n.required()?, lang);
    Ok(match format {
        Format::Txt => txt(&title, &sections),
        Format::Html => html(&title, &sections, lang),
    })
}

fn txt(title: &str, sections: &[Section]) -> String {
    let mut out = format!("{title}\n{}\n", "=".repeat(title.chars().count()));
    for s in sections {
        out.push_str(&format!("\n{}\n{}\n", s.heading, "-".repeat(s.heading.chars().count())));
        for p in &s.body {
            out.push_str(p);
            out.push('\n');
        }
    }
    out
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn html(title: &str, sections: &[Section], lang: Lang) -> String {
    let code = match lang {
        Lang::En => "en",
        Lang::De => "de",
    };
    let mut out = format!(
        "<!DOCTYPE html>\n<html lang=\"{code}\">\n<head>\n<meta charset=\"utf-8\">\n<title>{t}</title>\n</head>\n\
         <body>\n<h1>{t}</h1>\n",
        t = escape(title)
    );
    for s in sections {
        out.push_str(&format!("<h2>{}</h2>\n", escape(s.heading)));
        let mut in_list = false;
        for p in &s.body {
            match p.strip_prefix("- ") {
                Some(item) => {
                    if !in_list {
                        out.push_str("<ul>\n");
                        in_list = true;
                    }
                    out.push_str(&format!("<li>{}</li>\n", escape(item)));
                }
                None => {
                    if in_list {
                        out.push_str("</ul>\n");
                        in_list = false;
                    }
                    out.push_str(&format!("<p>{}</p>\n", escape(p)));
                }
            }
        }
        if in_list {
            out.push_str("</ul>\n");
        }
    }
    out.push_str("</body>\n</html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = "screen = \"s\"\n[[input]]\nname = \"a\"\ndevice = \"/dev/video0\"\n\
                          [notice]\ncontroller = \"Shop & Co\"\ncontact = \"p@x\"\nlegal_basis = \"Art. 6(1)(f)\"\n\
                          retain_days = 30\nmin_group_size = 7\n";

    #[test]
    fn follows_the_configuration() {
        let with = Config::parse(CONFIG).unwrap();
        let without = Config::parse(&format!("demographics = false\n{CONFIG}")).unwrap();
        let a = render(&with, Format::Txt, Lang::En).unwrap();
        let b = render(&without, Format::Txt, Lang::En).unwrap();
        assert!(a.contains("age group and gender") && !b.contains("age group and gender"));
        assert!(b.contains("Age and gender are not estimated."));
        assert!(a.contains("k = 7") && a.contains("30 days"));
        let h = render(&with, Format::Html, Lang::De).unwrap();
        assert!(h.contains("Shop &amp; Co") && h.contains("<html lang=\"de\">") && h.contains("Altersgruppe"));
        let no_notice = Config::parse(CONFIG.split("[notice]").next().unwrap()).unwrap();
        assert!(render(&no_notice, Format::Txt, Lang::En).unwrap_err().contains("[notice]"));
    }
}
