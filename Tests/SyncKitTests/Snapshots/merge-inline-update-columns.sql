MERGE `my-project.crm.contacts` AS _bqsync_target
USING (
SELECT CAST(JSON_VALUE(_bqsync_row, '$[0]') AS INT64) AS `id`, CAST(JSON_VALUE(_bqsync_row, '$[1]') AS DATE) AS `day`, JSON_VALUE(_bqsync_row, '$[2]') AS `name`, FROM_BASE64(JSON_VALUE(_bqsync_row, '$[3]')) AS `raw`, CAST(JSON_VALUE(_bqsync_row, '$[4]') AS FLOAT64) AS `score`, PARSE_NUMERIC(JSON_VALUE(_bqsync_row, '$[5]')) AS `amount`, PARSE_BIGNUMERIC(JSON_VALUE(_bqsync_row, '$[6]')) AS `big`, CAST(JSON_VALUE(_bqsync_row, '$[7]') AS BOOL) AS `ok`, CAST(JSON_VALUE(_bqsync_row, '$[8]') AS DATETIME) AS `local`, CAST(JSON_VALUE(_bqsync_row, '$[9]') AS TIME) AS `clock`, CAST(JSON_VALUE(_bqsync_row, '$[10]') AS TIMESTAMP) AS `at`, PARSE_JSON(JSON_VALUE(_bqsync_row, '$[11]'), wide_number_mode => 'round') AS `payload`, CAST(JSON_VALUE(_bqsync_row, '$[12]') AS BOOL) AS `gone` FROM UNNEST(JSON_QUERY_ARRAY(@rows)) AS _bqsync_row
) AS S
ON _bqsync_target.`id` = S.`id` AND _bqsync_target.`day` = S.`day`
WHEN MATCHED AND COALESCE(S.`gone`, FALSE) AND (_bqsync_target.`at` IS NULL OR S.`at` >= _bqsync_target.`at`) THEN DELETE
WHEN MATCHED AND (_bqsync_target.`at` IS NULL OR S.`at` >= _bqsync_target.`at`) THEN UPDATE SET `name` = S.`name`, `score` = S.`score`
WHEN NOT MATCHED AND NOT COALESCE(S.`gone`, FALSE) THEN INSERT (`id`, `day`, `name`, `raw`, `score`, `amount`, `big`, `ok`, `local`, `clock`, `at`, `payload`) VALUES (S.`id`, S.`day`, S.`name`, S.`raw`, S.`score`, S.`amount`, S.`big`, S.`ok`, S.`local`, S.`clock`, S.`at`, S.`payload`)
