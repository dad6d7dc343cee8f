-- name: 000_macros
-- SQL macros shared by the views and the loaders. Re-applied on every writable open (create or replace).
--
-- Number normalization (DOMAIN-PROTOCOLS.md §11.5), the SQL twin of sigtrace/numbers.py normalize():
-- the value only, E.164 with '+' or NULL. tests/test_numbers.py checks Python and SQL agree on every
-- §11.6 vector and on 20 000 generated numbers: change both together.
--   sig_normalize(raw, noa)            raw text + ISUP nature of address (1 subscriber, 2 unknown,
--                                      3 national, 4 international; NULL/other = dialled string)
--   sig_normalize(raw, noa, ctx_area)  same, with the area code of the exchange that saw the number
--                                      (expands 7-8 digit local numbers)
--   sig_num_clean(raw)                 step 1: drop whitespace and -().; fold full-width digits; drop
--                                      TBCD filler F at the end
--   sig_normalize_clean(d, noa, ctx)   steps 2..: on an already cleaned string. Bulk loaders clean once
--                                      in a subquery and call this.
-- How the macros are written, for speed (the CDR loader runs them on millions of rows):
--   * DuckDB inlines macros: an argument used N times is evaluated N times. So the inner steps take
--     the whole cleaned string plus a constant regex `pre` for the part already consumed (e.g. '0',
--     '0*860?', an IP access prefix) instead of a substring expression; patterns are concatenated
--     constants, folded and compiled once.
--   * No `x in (a, b, ...)` lists: DuckDB plans them (and list_contains / any()) as MARK joins, which
--     are slow per row and break the file order a parallel load relies on. Regexes instead.
--   * The national-number check is one regex (NSN below): mobile | M2M | fixed, minus the retired
--     0852/0853 codes (handled separately) and minus 400/800 10-digit service numbers.
-- Point codes (text -> integer), as sigtrace/pointcode.py parse_pc():
--   sig_pc_int(text, bits)   'M-S-P' (24-bit) / 'Z-A-I' (bits = 14) / decimal -> integer, NULL if invalid
--   sig_pc_bits(text, bits)  the width that sig_pc_int used: 14 or 24 (NULL if invalid)

create or replace macro sig_num_clean(raw) as
    case
        when regexp_full_match(raw, '\+?[0-9]*') then raw
        else rtrim(
            regexp_replace(
                translate(raw, '０１２３４５６７８９＋', '0123456789+'),
                '[\t\n\x0b\x0c\r\x1c-\x1f \x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}().-]', '', 'g'),
            'Ff')
    end;

-- s = <pre><national significant number> -> +86 E.164, or NULL (service number, retired area code,
-- bad length). Zunyi 0852 / Anshun 0853 + 7-digit local -> 0851 + lead digit 2/3 (2014-12-20 merge).
create or replace macro sig_num_nsn(s, pre) as
    case
        when regexp_full_match(s, pre || '(?:1064[0-9]{9}|1[3-9][0-9]{9}|(?:10|2[0-9])[0-9]{8}|[35679][0-9]{9,10}|4(?:0[1-9]|[1-9][0-9])[0-9]{7,8}|400[0-9]{8}|8(?:0[1-9]|[1-46-9][0-9]|5[014-9])[0-9]{7,8}|800[0-9]{8})') then '+86' || regexp_replace(s, '^' || pre, '')
        when regexp_full_match(s, pre || '85[23][0-9]{7}') then '+86' || regexp_replace(s, '^' || pre || '85([23])', '851\1')
    end;

-- the same with nothing consumed
create or replace macro sig_num_nat(n) as
    case
        when regexp_full_match(n, '1064[0-9]{9}|1[3-9][0-9]{9}|(?:10|2[0-9])[0-9]{8}|[35679][0-9]{9,10}|4(?:0[1-9]|[1-9][0-9])[0-9]{7,8}|400[0-9]{8}|8(?:0[1-9]|[1-46-9][0-9]|5[014-9])[0-9]{7,8}|800[0-9]{8}') then '+86' || n
        when regexp_full_match(n, '85[23][0-9]{7}') then '+86851' || substr(n, 3)
    end;

-- s = <pre><digits after an international marker>: leading zeros dropped, then CC 86 (+ an optional
-- trunk 0) and a national number, or a foreign number of 7-15 digits
create or replace macro sig_num_intl(s, pre) as
    case
        when regexp_matches(s, '^' || pre || '0*86') then sig_num_nsn(s, pre || '0*860?')
        when regexp_full_match(s, pre || '0*[1-9][0-9]{6,14}') then '+' || regexp_extract(s, '^' || pre || '0*([0-9]+)$', 1)
    end;

-- s = <pre><dialled string> (NOA 2 / unknown / CDR text), pre = '' or the IP access prefix
create or replace macro sig_num_dialled(s, ctx, pre) as
    case
        when regexp_matches(s, '^' || pre || '00') then sig_num_intl(s, pre)
        when regexp_matches(s, '^' || pre || '0') then sig_num_nsn(s, pre || '0')
        when regexp_full_match(s, pre || '(?:1[3-9][0-9]{9}|1064[0-9]{9})') then sig_num_nsn(s, pre)
        -- SMS ports (106x), IP access codes alone, service numbers: not E.164
        when regexp_full_match(s, pre || '(?:106[0-9]{2,17}|179[0-9]{2}|125[0-9]{2}|101[0-9]{2}|1[0-9]{2}|1[02][0-9]{3}|9[56][0-9]{3,4}|[48]00[0-9]{7})') then null
        when regexp_full_match(s, pre || '86[0-9]{10,}') then sig_num_intl(s, pre)
        when regexp_full_match(s, pre || '[0-9]{7,8}') then sig_num_nat(ctx || regexp_replace(s, '^' || pre, ''))
        else sig_num_nsn(s, pre)
    end;

create or replace macro sig_normalize_clean(d, noa, ctx) as
    case
        when d = '' then null
        -- fast paths for the common forms (each gives what the full algorithm below gives):
        -- a bare mobile number (dialled or national), +86 + mobile, 86 + mobile, 0 + national number
        when (noa is null or noa = 2 or noa = 3 or noa = 0 or noa > 4) and regexp_full_match(d, '1[3-9][0-9]{9}') then '+86' || d
        when regexp_full_match(d, '\+861[3-9][0-9]{9}') then d
        when (noa is null or noa = 2 or noa = 3 or noa = 0 or noa > 4) and regexp_full_match(d, '861[3-9][0-9]{9}') then '+' || d
        when (noa is null or noa = 2 or noa = 0 or noa > 4) and regexp_full_match(d, '0(?:1064[0-9]{9}|1[3-9][0-9]{9}|(?:10|2[0-9])[0-9]{8}|[35679][0-9]{9,10}|4(?:0[1-9]|[1-9][0-9])[0-9]{7,8}|400[0-9]{8}|8(?:0[1-9]|[1-46-9][0-9]|5[014-9])[0-9]{7,8}|800[0-9]{8})') then '+86' || substr(d, 2)
        when starts_with(d, '+') then sig_num_intl(d, '\+')
        -- non-digits, or all zeros
        when not regexp_full_match(d, '[0-9]*[1-9][0-9]*') then null
        when noa = 4 then sig_num_intl(d, '')
        when noa = 3 then (
            case
                when starts_with(d, '00') then sig_num_intl(d, '')
                -- one trunk 0 dropped; then a CC 86 unless the rest is 10-11 digits (a fixed number)
                when regexp_full_match(d, '0?86(?:[0-9]{0,7}|[0-9]{10,})') then sig_num_nsn(d, '0?86')
                else sig_num_nsn(d, '0?')
            end)
        when noa = 1 then (case when length(d) between 7 and 8 then sig_num_nat(ctx || d) end)
        when regexp_full_match(d, '(?:17951|12593|17911|10193|17909|17901|17908|17969)[0-9]{7,}') then sig_num_dialled(d, ctx, '(?:17951|12593|17911|10193|17909|17901|17908|17969)')
        else sig_num_dialled(d, ctx, '')
    end;

create or replace macro sig_normalize(raw, noa) as sig_normalize_clean(sig_num_clean(raw), noa, null::varchar),
    (raw, noa, ctx_area) as sig_normalize_clean(sig_num_clean(raw), noa, ctx_area);

create or replace macro sig_pc_parts(txt) as
    case when regexp_full_match(txt, '\s*[0-9]{1,3}[-.][0-9]{1,3}[-.][0-9]{1,3}\s*')
         then regexp_extract_all(txt, '[0-9]+')::integer[] end;

create or replace macro sig_pc_from_parts(p, bits) as
    case
        when bits = 14 then (case when p[1] <= 7 and p[2] <= 255 and p[3] <= 7 then (p[1] << 11) | (p[2] << 3) | p[3] end)
        else (case when p[1] <= 255 and p[2] <= 255 and p[3] <= 255 then (p[1] << 16) | (p[2] << 8) | p[3] end)
    end;

create or replace macro sig_pc_decimal_bits(txt, bits) as
    case when regexp_full_match(txt, '\s*[0-9]{1,8}\s*')
         then coalesce(bits, case when try_cast(trim(txt) as integer) < 16384 then 14 else 24 end) end;

create or replace macro sig_pc_bits(txt, bits) as
    case
        when sig_pc_parts(txt) is not null then (
            case when sig_pc_from_parts(sig_pc_parts(txt), bits) is not null then (case when bits = 14 then 14 else 24 end) end)
        when try_cast(trim(txt) as integer) < (1 << sig_pc_decimal_bits(txt, bits)) then sig_pc_decimal_bits(txt, bits)
    end;

create or replace macro sig_pc_int(txt, bits) as
    case
        when sig_pc_parts(txt) is not null then sig_pc_from_parts(sig_pc_parts(txt), bits)
        when try_cast(trim(txt) as integer) < (1 << sig_pc_decimal_bits(txt, bits)) then try_cast(trim(txt) as integer)
    end;

comment on macro sig_num_clean is 'Number cleaning (DOMAIN-PROTOCOLS §11.5 _clean): drops whitespace and -().; folds full-width digits and plus; strips trailing TBCD filler F.';
comment on macro sig_num_nat is 'Internal step of sig_normalize: national significant number (no 0, no 86) -> +86 E.164, or NULL for service numbers, retired area codes, bad lengths.';
comment on macro sig_num_nsn is 'Internal step of sig_normalize: (s, pre) with s = <text matched by regex pre><national significant number> -> +86 E.164 or NULL.';
comment on macro sig_num_intl is 'Internal step of sig_normalize: (s, pre) with s = <pre><digits after an international marker (+, 00, NOA 4)> -> E.164 or NULL.';
comment on macro sig_num_dialled is 'Internal step of sig_normalize: (s, ctx_area, pre) with s = <pre><dialled string> (NOA 2 / unknown / CDR text; pre = an IP access prefix or empty) -> E.164 or NULL.';
comment on macro sig_normalize_clean is 'sig_normalize on an already cleaned string (sig_num_clean): (d, noa, ctx_area) -> E.164 or NULL. Bulk loaders use it after cleaning once.';
comment on macro sig_normalize is 'Any number form -> E.164 with + (e.g. +8613912345678) or NULL, as sigtrace.numbers.normalize (DOMAIN-PROTOCOLS §11.5). Args: raw text, ISUP nature of address (1 subscriber, 2 unknown, 3 national, 4 international; NULL = dialled string), optional area code of the exchange for local numbers. Service numbers (110, 95533), empty, all-zero and malformed numbers give NULL.';
comment on macro sig_pc_parts is 'Internal step of sig_pc_int: dashed point code text -> [a, b, c] integers, NULL if not dashed.';
comment on macro sig_pc_from_parts is 'Internal step of sig_pc_int: [a, b, c] -> 14-bit (bits = 14, Z-A-I) or 24-bit (M-S-P) integer, NULL when a part is out of range.';
comment on macro sig_pc_decimal_bits is 'Internal step of sig_pc_int: width of a decimal point code (bits if given, else 14 when < 16384, else 24).';
comment on macro sig_pc_bits is 'Point code text -> its width (14 or 24) as sig_pc_int reads it: dashed M-S-P is 24-bit unless bits = 14 (Z-A-I); a decimal is 14-bit when < 16384 unless bits says; NULL if not a point code.';
comment on macro sig_pc_int is 'Point code text (M-S-P 24-bit, Z-A-I when bits = 14, or decimal) -> integer as carried in the routing label (M<<16|S<<8|P or Z<<11|A<<3|I); NULL if invalid. Same rules as sigtrace.pointcode.parse_pc.';
