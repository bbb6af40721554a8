"""Files for finance: one module per format. Each builder answers :class:`ExportFile`s; the
service (:mod:`laurel.tax.exports.service`) gathers the data and audits every export."""
