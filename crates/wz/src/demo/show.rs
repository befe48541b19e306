//! How the demo prints its steps and the verdicts the RPs received.

use std::io::Write;

use wz_terminal::Verified;

pub(super) struct Out<'a, W: Write> {
    pub(super) w: &'a mut W,
    pub(super) step: usize,
}

impl<W: Write> Out<'_, W> {
    pub(super) fn step(&mut self, title: &str) -> anyhow::Result<()> {
        self.step += 1;
        writeln!(self.w, "\n{:>2}. {title}", self.step)?;
        Ok(())
    }
    pub(super) fn line(&mut self, text: &str) -> anyhow::Result<()> {
        writeln!(self.w, "    {text}")?;
        Ok(())
    }
    pub(super) fn ok(&mut self, text: &str) -> anyhow::Result<()> {
        writeln!(self.w, "    ✓ {text}")?;
        Ok(())
    }
}

pub(super) fn describe(v: &Verified) -> String {
    format!(
        "verdict {} ({}), level {}, serial {}",
        v.verdict.result.name(),
        v.verdict.result.code(),
        v.verdict.level.map_or("-", wz_proto::Level::name),
        v.verdict.serial
    )
}

pub(super) fn received(v: &Verified) -> Vec<String> {
    let mut lines = vec![format!(
        "pseudonym  {}",
        v.verdict.pseudonym.as_deref().unwrap_or("-")
    )];
    if let Some(a) = &v.attributes {
        if let Some(n) = &a.name {
            lines.push(format!("name       {n}"));
        }
        if let Some(id) = &a.id_number {
            lines.push(format!("id_number  {}", id.as_str()));
        }
        if let Some(b) = a.age_over_18 {
            lines.push(format!("age_over_18 {b}"));
        }
    }
    lines
}
