//! Output of the many-cluster benchmark: a table on stdout, the figures as JSON and the
//! convergence-over-time plot as a hand-written SVG, both under `target/`.

use std::fmt::Write as _;
use std::path::Path;

use serde_json::json;

use crate::measure::Figures;
use crate::params::Params;

fn opt(value: Option<f64>, digits: usize) -> String {
    value.map_or("-".to_owned(), |v| format!("{v:.digits$}"))
}

fn ms(value: Option<f64>) -> String {
    value.map_or("-".to_owned(), |v| {
        if v.is_infinite() {
            ">100s".to_owned()
        } else {
            format!("{:.0}", v * 1000.0)
        }
    })
}

/// The deepest mailbox and its actor type; `!N` flags N messages handled uncounted (a depth that
/// would have gone negative), which makes the depth meaningless.
fn mailbox_column(f: &Figures) -> String {
    let mut column = format!("{:.0} {}", f.max_mailbox_depth, f.deepest_mailbox);
    if f.mailbox_underflows > 0.0 {
        column.push_str(&format!(" !{:.0}", f.mailbox_underflows));
    }
    column
}

pub fn table(figures: &[Figures]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<16} {:>9} {:>7} {:>7} {:>6} {:>5} {:>16} {:>20} {:>8} {:>7} {:>9} {:>7}",
        "scenario",
        "conv s",
        "writes",
        "min",
        "ampl",
        "429",
        "hist p50/p99 ms",
        "change→write p50/p99/max ms",
        "peakRSS",
        "cpu s",
        "mailbox",
        "budget"
    );
    for f in figures {
        let latency = f.change_to_write_ms.as_ref().map_or("-".to_owned(), |l| {
            format!("{:.0}/{:.0}/{:.0}", l.p50, l.p99, l.max)
        });
        let _ = writeln!(
            out,
            "{:<16} {:>9} {:>7} {:>7} {:>6} {:>5} {:>16} {:>20} {:>7.0}M {:>7.2} {:>9} {:>7}",
            f.scenario,
            opt(f.converged_secs, 2),
            f.writes_total,
            f.minimum_writes.map_or("-".to_owned(), |m| m.to_string()),
            opt(f.write_amplification, 2),
            f.status_429,
            format!("≤{}/≤{}", ms(f.histogram_p50_le), ms(f.histogram_p99_le)),
            latency,
            f.peak_rss_mib,
            f.cpu_secs,
            mailbox_column(f),
            f.budget_use
                .map_or("-".to_owned(), |b| format!("{:.0}%", b * 100.0)),
        );
    }
    for f in figures {
        for note in &f.notes {
            let _ = writeln!(out, "  {}: {note}", f.scenario);
        }
        if let Some(busiest) = f.busiest_actors["busiest"].as_array() {
            let top: Vec<String> = busiest
                .iter()
                .take(3)
                .map(|a| {
                    format!(
                        "{} {:.2}s/{} msgs",
                        a["actor"].as_str().unwrap_or("?"),
                        a["busy_seconds"].as_f64().unwrap_or(0.0),
                        a["handled"]
                    )
                })
                .collect();
            let _ = writeln!(
                out,
                "  {}: busiest actors (cumulative): {}",
                f.scenario,
                top.join(", ")
            );
        }
        if !f.writes.is_empty() {
            let by_type: Vec<String> = f.writes.iter().map(|(k, v)| format!("{k} {v}")).collect();
            let _ = writeln!(
                out,
                "  {}: writes by type: {}",
                f.scenario,
                by_type.join(", ")
            );
        }
    }
    out
}

pub fn write_json(path: &Path, params: &Params, figures: &[Figures]) -> std::io::Result<()> {
    let doc = json!({
        "params": format!("{params:?}"),
        "machine": machine(),
        "scenarios": figures,
    });
    std::fs::write(path, serde_json::to_string_pretty(&doc).unwrap_or_default())
}

/// CPU model and count, memory, kernel: where the figures were measured.
pub fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_default();
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0 / 1024.0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    // Other work on the machine skews the timings: record how busy it was.
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load: Vec<&str> = load.split_whitespace().take(3).collect();
    format!(
        "{cpus} CPUs ({model}), {mem:.1} GiB RAM, Linux {}, load average {}",
        kernel.trim(),
        load.join(" ")
    )
}

const COLOURS: [&str; 8] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
];

/// One line per scenario: the share of its controller writes done, over seconds since its start.
pub fn svg(figures: &[Figures]) -> String {
    let (w, h, left, right, top, bottom) = (760.0, 420.0, 60.0, 190.0, 30.0, 50.0);
    let plot_w = w - left - right;
    let plot_h = h - top - bottom;
    let max_t = figures
        .iter()
        .filter(|f| f.writes_total > 0)
        .flat_map(|f| f.timeline.iter().map(|(t, _)| *t))
        .fold(1.0_f64, f64::max);
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(out, r#"<rect width="{w}" height="{h}" fill="white"/>"#);
    let _ = writeln!(
        out,
        r#"<text x="{left}" y="18" font-size="14">Convergence over time: share of each scenario's controller writes done</text>"#
    );
    // Axes and ticks.
    let _ = writeln!(
        out,
        r#"<path d="M{left},{top} V{} H{}" stroke="black" fill="none"/>"#,
        top + plot_h,
        left + plot_w
    );
    for i in 0..=5 {
        let frac = f64::from(i) / 5.0;
        let y = top + plot_h * (1.0 - frac);
        let x = left + plot_w * frac;
        let _ = writeln!(
            out,
            r#"<text x="{}" y="{}" text-anchor="end">{:.0}%</text><line x1="{left}" x2="{}" y1="{y}" y2="{y}" stroke="lightgrey"/>"#,
            left - 6.0,
            y + 4.0,
            frac * 100.0,
            left + plot_w
        );
        let _ = writeln!(
            out,
            r#"<text x="{x}" y="{}" text-anchor="middle">{:.1}</text>"#,
            top + plot_h + 16.0,
            max_t * frac
        );
    }
    let _ = writeln!(
        out,
        r#"<text x="{}" y="{}" text-anchor="middle">seconds since the scenario started</text>"#,
        left + plot_w / 2.0,
        h - 10.0
    );
    for (i, f) in figures.iter().filter(|f| f.writes_total > 0).enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let total = f.writes_total as f64;
        let points: Vec<String> = f
            .timeline
            .iter()
            .map(|(t, n)| {
                format!(
                    "{:.1},{:.1}",
                    left + plot_w * (t / max_t).min(1.0),
                    top + plot_h * (1.0 - (*n as f64 / total).min(1.0))
                )
            })
            .collect();
        let _ = writeln!(
            out,
            r##"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="2"/>"##,
            points.join(" ")
        );
        let ly = top + 14.0 + 18.0 * i as f64;
        let _ = writeln!(
            out,
            r#"<line x1="{}" x2="{}" y1="{ly}" y2="{ly}" stroke="{colour}" stroke-width="3"/><text x="{}" y="{}">{} ({} writes)</text>"#,
            w - right + 10.0,
            w - right + 30.0,
            w - right + 36.0,
            ly + 4.0,
            f.scenario,
            f.writes_total
        );
    }
    out.push_str("</svg>\n");
    out
}
