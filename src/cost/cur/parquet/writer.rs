//! A writer of CUR 2.0 Parquet files, for the tests and the benchmark only: compiled
//! under `cfg(test)`, or with the `cur-parquet-writer` feature, which the package's
//! dev-dependency on itself turns on for the integration tests and benches. geoplan
//! itself never writes Parquet.

use std::path::Path;

use parquet::data_type::{ByteArray, ByteArrayType, DoubleType, Int64Type};

use crate::cost::cur::TAG_KEY_V2;

/// One CUR 2.0 row, for [`write`].
pub struct Row<'a> {
    pub usage_type: &'a str,
    pub amount: f64,
    pub cost: f64,
    pub resource: Option<&'a str>,
    /// The usage start, in milliseconds since the epoch.
    pub start_ms: i64,
    /// The `geoplan:name` tag, in `resource_tags` (a map, as CUR 2.0 has it).
    pub tag: Option<&'a str>,
}

/// Writes rows as a CUR 2.0 Parquet file (Snappy, `rows_per_group` rows per row group),
/// with the columns geoplan reads typed as Data Exports types them. The benchmark and
/// the tests make their inputs with it.
pub fn write<'a>(
    path: &Path,
    rows: impl IntoIterator<Item = Row<'a>>,
    rows_per_group: usize,
) -> parquet::errors::Result<()> {
    let props = parquet::file::properties::WriterProperties::builder()
        .set_compression(parquet::basic::Compression::SNAPPY)
        .build();
    write_with(path, rows, rows_per_group, props)
}

/// [`write`] with the writer's properties given (encodings, page sizes, page format).
pub fn write_with<'a>(
    path: &Path,
    rows: impl IntoIterator<Item = Row<'a>>,
    rows_per_group: usize,
    props: parquet::file::properties::WriterProperties,
) -> parquet::errors::Result<()> {
    use parquet::file::writer::SerializedFileWriter;
    use std::sync::Arc;
    let schema = Arc::new(parquet::schema::parser::parse_message_type(
        "message cur {
            optional binary line_item_usage_type (STRING);
            optional double line_item_usage_amount;
            optional double line_item_unblended_cost;
            optional binary line_item_resource_id (STRING);
            optional int64 line_item_usage_start_date (TIMESTAMP(MILLIS,true));
            optional group resource_tags (MAP) {
                repeated group key_value {
                    required binary key (STRING);
                    optional binary value (STRING);
                }
            }
        }",
    )?);
    let props = Arc::new(props);
    let mut writer = SerializedFileWriter::new(std::fs::File::create(path)?, schema, props)?;
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let (mut types, mut amounts, mut costs, mut resources, mut starts) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut resource_defs = Vec::new();
        // The map: one entry (def 2 for the key, 3 for the value) or none (def 0).
        let (mut tag_keys, mut tag_values, mut tag_defs) = (Vec::new(), Vec::new(), Vec::new());
        for row in rows.by_ref().take(rows_per_group) {
            match row.tag {
                Some(t) => {
                    tag_keys.push(ByteArray::from(TAG_KEY_V2));
                    tag_values.push(ByteArray::from(t));
                    tag_defs.push(2i16);
                }
                None => tag_defs.push(0),
            }
            types.push(ByteArray::from(row.usage_type));
            amounts.push(row.amount);
            costs.push(row.cost);
            resource_defs.push(i16::from(row.resource.is_some()));
            resources.extend(row.resource.map(ByteArray::from));
            starts.push(row.start_ms);
        }
        let all = vec![1i16; types.len()];
        let mut group = writer.next_row_group()?;
        let mut index = 0;
        while let Some(mut column) = group.next_column()? {
            match index {
                0 => column
                    .typed::<ByteArrayType>()
                    .write_batch(&types, Some(&all), None)?,
                1 => column
                    .typed::<DoubleType>()
                    .write_batch(&amounts, Some(&all), None)?,
                2 => column
                    .typed::<DoubleType>()
                    .write_batch(&costs, Some(&all), None)?,
                3 => column.typed::<ByteArrayType>().write_batch(
                    &resources,
                    Some(&resource_defs),
                    None,
                )?,
                4 => column
                    .typed::<Int64Type>()
                    .write_batch(&starts, Some(&all), None)?,
                5 => column.typed::<ByteArrayType>().write_batch(
                    &tag_keys,
                    Some(&tag_defs),
                    Some(&vec![0; tag_defs.len()]),
                )?,
                _ => {
                    let defs: Vec<i16> = tag_defs
                        .iter()
                        .map(|d| if *d == 2 { 3 } else { 0 })
                        .collect();
                    column.typed::<ByteArrayType>().write_batch(
                        &tag_values,
                        Some(&defs),
                        Some(&vec![0; defs.len()]),
                    )?
                }
            };
            column.close()?;
            index += 1;
        }
        group.close()?;
    }
    writer.close()?;
    Ok(())
}
