//! The ROC plot of `wz face eval`: TAR against FAR on a log axis, with the
//! FAR 1e-2/1e-3/1e-4 operating points and the EER marked. Text is drawn
//! with the system's DejaVu Sans (Debian `fonts-dejavu-core`, installed by
//! `scripts/setup.sh`); without it the plot is drawn without labels.

use anyhow::Context;
use plotters::prelude::*;
use wz_face::eval::EvalReport;

const W: u32 = 900;
const H: u32 = 640;
const FONT_PATHS: [&str; 2] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
];

/// Registers a system sans-serif font once; false if none was found.
fn font() -> bool {
    static FONT: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *FONT.get_or_init(|| {
        FONT_PATHS
            .iter()
            .find_map(|p| std::fs::read(p).ok())
            .is_some_and(|bytes| {
                // The registry keeps the bytes for the process's life.
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok()
            })
    })
}

/// PNG bytes of the ROC curve.
pub fn roc_png(r: &EvalReport, title: &str) -> anyhow::Result<Vec<u8>> {
    let with_text = font();
    let mut rgb = vec![0u8; (W * H * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (W, H)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| anyhow::anyhow!("{e}"))?;
        let min_far = 1e-5_f64;
        let mut chart = ChartBuilder::on(&root);
        chart.margin(20);
        if with_text {
            chart
                .caption(title, ("sans-serif", 22))
                .x_label_area_size(50)
                .y_label_area_size(60);
        }
        let mut chart = chart
            .build_cartesian_2d((min_far..1.0).log_scale(), 0.0..1.0)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let mut mesh = chart.configure_mesh();
        if with_text {
            mesh.x_desc("false accept rate (log)")
                .y_desc("true accept rate")
                .label_style(("sans-serif", 15));
        } else {
            mesh.disable_x_axis().disable_y_axis();
        }
        mesh.draw().map_err(|e| anyhow::anyhow!("{e}"))?;
        let points: Vec<(f64, f64)> = r
            .roc
            .iter()
            .filter(|(_, far, _)| *far > 0.0)
            .map(|(_, far, tar)| (far.max(min_far), *tar))
            .collect();
        let series = chart
            .draw_series(LineSeries::new(points, BLUE.stroke_width(2)))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        if with_text {
            series
                .label("ROC")
                .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLUE));
        }
        let marks: Vec<(f64, f64)> = r
            .tar_at_far
            .iter()
            .filter_map(|(far, at)| at.map(|(_, tar)| (*far, tar)))
            .collect();
        chart
            .draw_series(marks.iter().map(|p| Circle::new(*p, 5, RED.filled())))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        if with_text {
            chart
                .draw_series(marks.iter().map(|(far, tar)| {
                    Text::new(
                        format!("TAR {tar:.3} @ FAR {far:.0e}"),
                        (*far * 1.3, tar - 0.04),
                        ("sans-serif", 14),
                    )
                }))
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let (eer, _) = r.eer;
            chart
                .draw_series(std::iter::once(Text::new(
                    format!(
                        "EER {:.1} %   FTE {:.1} %   {} genuine / {} impostor pairs",
                        eer * 100.0,
                        r.fte() * 100.0,
                        r.genuine_pairs,
                        r.impostor_pairs
                    ),
                    (2e-5, 0.08),
                    ("sans-serif", 15),
                )))
                .map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        root.present().map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    let img = image::RgbImage::from_raw(W, H, rgb).context("plot buffer size")?;
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)?;
    Ok(out.into_inner())
}
