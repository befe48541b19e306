//! `wz registry demo`: a synthetic registry for demos and tests. Names, ID
//! numbers and addresses are invented; photos are real face images from a
//! face data set on disk (`--faces DIR` or `WZ_DEMO_FACES`), referenced in
//! place — never copied. Each synthetic citizen gets
//! one identity's first photo as the registry photo; the identity's other
//! photos are listed as "live" captures for face checks.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use wz_proto::{CivilDate, IdNumber};

const SURNAMES: [&str; 20] = [
    "王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "徐", "孙", "胡", "朱", "高", "林", "何",
    "郭", "马", "罗",
];
const GIVEN: [&str; 24] = [
    "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超",
    "秀英", "霞", "平", "刚", "桂英", "建华", "文博",
];
const REGIONS: [(u32, &str); 6] = [
    (110_105, "北京市朝阳区建国路"),
    (310_104, "上海市徐汇区漕溪北路"),
    (440_305, "广东省深圳市南山区科技园路"),
    (510_107, "四川省成都市武侯区人民南路"),
    (330_106, "浙江省杭州市西湖区文三路"),
    (420_106, "湖北省武汉市武昌区中南路"),
];

/// A small deterministic generator (demo data, not secrets).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n.max(1)
    }
}

fn pick<T: Copy>(rng: &mut Lcg, xs: &[T]) -> anyhow::Result<T> {
    let i = usize::try_from(rng.next(xs.len() as u64))?;
    xs.get(i).copied().context("empty choice list")
}

/// Where face images are looked for when `--faces` is not given: the
/// folder named by `WZ_DEMO_FACES` (one sub-folder per person), if set.
pub fn default_faces_dir() -> Option<PathBuf> {
    std::env::var_os("WZ_DEMO_FACES")
        .map(PathBuf::from)
        .filter(|p| p.is_dir())
}

/// Card validity by age at issue (GB: under 16: 5 years, 16-25: 10, 26-45: 20, older: long-term).
fn validity(birth: CivilDate, issued: CivilDate) -> Option<CivilDate> {
    let years = match birth.age_on(issued) {
        0..=15 => 5,
        16..=25 => 10,
        26..=45 => 20,
        _ => return None,
    };
    let day = if issued.month() == 2 && issued.day() == 29 {
        28
    } else {
        issued.day()
    };
    CivilDate::new(issued.year() + years, issued.month(), day).ok()
}

/// Each identity folder's images (sorted), for folders that hold any.
pub fn identities(faces: &Path) -> anyhow::Result<Vec<Vec<PathBuf>>> {
    Ok(wz_face::eval::face_set(faces)
        .with_context(|| format!("reading face images from {}", faces.display()))?
        .into_iter()
        .map(|(_, imgs)| imgs)
        .filter(|imgs| !imgs.is_empty())
        .collect())
}

/// Writes `out/registry.csv` and `out/live-frames.tsv`; returns the row count.
pub fn write(count: usize, out: &Path, faces: &Path, seed: u64) -> anyhow::Result<usize> {
    let usable = identities(faces)?;
    if usable.len() < count {
        bail!(
            "{} holds face images of {} people; asked for {count}",
            faces.display(),
            usable.len()
        );
    }
    let chosen: Vec<Vec<PathBuf>> = usable.into_iter().take(count).collect();
    write_rows(out, faces, &chosen, seed)
}

/// Writes `out/registry.csv` (one synthetic person per entry of `people`,
/// whose first image is the registry photo) and `out/live-frames.tsv` (the
/// other images); returns the row count.
pub fn write_rows(out: &Path, faces: &Path, people: &[Vec<PathBuf>], seed: u64) -> anyhow::Result<usize> {
    let faces_abs = std::fs::canonicalize(faces)?;
    std::fs::create_dir_all(out)?;
    let mut csv = std::fs::File::create(out.join("registry.csv"))?;
    let mut live = std::fs::File::create(out.join("live-frames.tsv"))?;
    writeln!(
        csv,
        "id_number,name,sex,ethnicity,birth_date,address,card_valid_from,card_valid_to,photo"
    )?;
    writeln!(live, "id_number\tlive_frames")?;
    let mut rng = Lcg(seed);
    for (i, imgs) in people.iter().enumerate() {
        let (region, street) = pick(&mut rng, &REGIONS)?;
        let year = 1950 + u16::try_from(rng.next(58))?;
        let birth = CivilDate::new(
            year,
            1 + u8::try_from(rng.next(12))?,
            1 + u8::try_from(rng.next(28))?,
        )?;
        let seq = u16::try_from(1 + (i % 999))?;
        let id = IdNumber::from_parts(region, birth, seq).map_err(|e| anyhow::anyhow!("{e}"))?;
        let name = format!("{}{}", pick(&mut rng, &SURNAMES)?, pick(&mut rng, &GIVEN)?);
        let issued_year = (2015 + u16::try_from(rng.next(10))?).max(year + 1);
        let issued = CivilDate::new(
            issued_year,
            1 + u8::try_from(rng.next(12))?,
            1 + u8::try_from(rng.next(28))?,
        )?;
        let to = validity(birth, issued).map_or_else(|| "长期".to_owned(), |d| d.to_string());
        let sex = match id.sex() {
            wz_proto::Sex::Male => "男",
            wz_proto::Sex::Female => "女",
        };
        let abs = |p: &PathBuf| {
            faces_abs
                .join(p.strip_prefix(faces).unwrap_or(p))
                .display()
                .to_string()
        };
        let photo = abs(imgs.first().context("identity without images")?);
        writeln!(
            csv,
            "{},{name},{sex},汉,{birth},{street}{}号,{issued},{to},{photo}",
            id.as_str(),
            1 + rng.next(300)
        )?;
        let others: Vec<String> = imgs.iter().skip(1).map(abs).collect();
        writeln!(live, "{}\t{}", id.as_str(), others.join(","))?;
    }
    Ok(people.len())
}
