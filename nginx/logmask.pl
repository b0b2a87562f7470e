#!/usr/bin/perl
# nginx's error stream, with every credential masked, for docker-compose: the official nginx
# image has perl (Debian's perl-base), not Python. These are the rules of lmgate/logmask.py,
# which `lmgate up` uses natively; tests/unit/test_logmask.py holds the two to the same output.
# Reads lines on stdin, writes them at once to stdout. Core perl only (perl-base has no Encode).
use strict;
use warnings;

$| = 1;
my $MASKED = "\xe2\x80\xa6";    # U+2026 in UTF-8, as keys.mask_key writes it
my %SECRET_PARAMS = map { $_ => 1 } qw(
    key api-key api_key apikey x-goog-api-key access_token
    x-amz-signature x-amz-credential x-amz-security-token
);
my $SECRET_HEADERS = 'proxy-authorization|authorization|x-api-key|api-key|x-goog-api-key|x-amz-security-token|cookie';
my $SCHEMES = 'bearer|basic|token|aws4-hmac-sha256';

# keys.mask_key: the last 6 characters, fewer for short values (a quarter of them at most)
sub mask {
    my ($value) = @_;
    my $shown = int(length($value) / 4);
    $shown = 6 if $shown > 6;
    return $shown ? $MASKED . substr($value, -$shown) : $MASKED;
}

sub query_param {
    my ($sep, $name, $value) = @_;
    my $decoded = $name;
    $decoded =~ tr/+/ /;
    $decoded =~ s/%([0-9A-Fa-f]{2})/chr(hex($1))/ge;
    if ($value eq '' || index($value, $MASKED) == 0 || !$SECRET_PARAMS{lc $decoded}) {
        return "$sep$name=$value";
    }
    return "$sep$name=" . mask($value);
}

while (my $line = <STDIN>) {
    $line =~ s/([?&])([^=&\s"]+)=([^&\s"]*)/query_param($1, $2, $3)/ge;
    $line =~ s/(?<![\w-])($SECRET_HEADERS)(\s*:\s*)((?>(?:(?:$SCHEMES)\s+)?))(?!$MASKED)([^\s"][^"\r\n]*?)(?=(?:\.\.\.)?"|\r|$)/$1.$2.$3.mask($4)/gime;
    $line =~ s/(?<![\w-])(bearer\s+|credential=|signature=)(?!$MASKED)([^\s"',;&]+)/$1.mask($2)/gie;
    $line =~ s/(?<![\w-])(sk-[A-Za-z0-9_-]{16,}|AIza[A-Za-z0-9_-]{16,}|ya29\.[A-Za-z0-9_.-]{16,}|(?:AKIA|ASIA)[A-Z0-9]{16}|ABSK[A-Za-z0-9+\/=]{16,}|bedrock-api-key-[A-Za-z0-9+\/=_-]{16,})/mask($1)/ge;
    print $line;
}
