MERGE `my-project.crm.contacts` AS _bqsync_target
USING (
SELECT CAST(_bqsync_row.`id` AS INT64) AS `id`, CAST(_bqsync_row.`day` AS DATE) AS `day`, _bqsync_row.`name` AS `name`, FROM_BASE64(_bqsync_row.`raw`) AS `raw`, CAST(_bqsync_row.`score` AS FLOAT64) AS `score`, PARSE_NUMERIC(_bqsync_row.`amount`) AS `amount`, PARSE_BIGNUMERIC(_bqsync_row.`big`) AS `big`, CAST(_bqsync_row.`ok` AS BOOL) AS `ok`, CAST(_bqsync_row.`local` AS DATETIME) AS `local`, CAST(_bqsync_row.`clock` AS TIME) AS `clock`, CAST(_bqsync_row.`at` AS TIMESTAMP) AS `at`, PARSE_JSON(_bqsync_row.`payload`, wide_number_mode => 'round') AS `payload`, CAST(_bqsync_row.`gone` AS BOOL) AS `gone` FROM `my-project.crm.bqsync_stage_contacts_0123456789abcdef` AS _bqsync_row
) AS S
ON _bqsync_target.`id` = S.`id` AND _bqsync_target.`day` = S.`day` AND _bqsync_target.`day` BETWEEN DATE '2025-12-30' AND DATE '2026-02-01'
WHEN MATCHED AND COALESCE(S.`gone`, FALSE) AND (_bqsync_target.`at` IS NULL OR S.`at` >= _bqsync_target.`at`) THEN DELETE
WHEN MATCHED AND (_bqsync_target.`at` IS NULL OR S.`at` >= _bqsync_target.`at`) THEN UPDATE SET `name` = S.`name`, `raw` = S.`raw`, `score` = S.`score`, `amount` = S.`amount`, `big` = S.`big`, `ok` = S.`ok`, `local` = S.`local`, `clock` = S.`clock`, `at` = S.`at`, `payload` = S.`payload`
WHEN NOT MATCHED AND NOT COALESCE(S.`gone`, FALSE) THEN INSERT (`id`, `day`, `name`, `raw`, `score`, `amount`, `big`, `ok`, `local`, `clock`, `at`, `payload`) VALUES (S.`id`, S.`day`, S.`name`, S.`raw`, S.`score`, S.`amount`, S.`big`, S.`ok`, S.`local`, S.`clock`, S.`at`, S.`payload`)
